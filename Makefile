# Two commands for a new user: `make demo` and `make test` (see README.md).
# torch stays at the local CPU build through constraints.txt (no CUDA downloads).
PYTHON ?= python3
VENV   := .venv
PIP    := $(VENV)/bin/pip install --quiet -c constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test bench install clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# install stamps: re-run pip only when the package metadata changes
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) "torch==2.13.0"
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e ".[dev,bench]"
	touch $@

# reference implementations for the weight-import tests (tests/reference), outside the venv's
# site-packages: torchvision 0.28 is a CUDA build whose ops do not load on the CPU torch, and an
# importable torchvision would be imported by torchmetrics during training. --no-deps: torch stays.
REFERENCE := $(VENV)/reference
$(VENV)/.installed-ref: $(VENV)/.installed-dev
	rm -rf $(REFERENCE)
	$(PIP) --no-deps --target $(REFERENCE) torchvision==0.28.0 pytorchvideo==0.1.5 fvcore==0.1.5.post20221221 \
		iopath==0.1.10 parameterized==0.9.0 portalocker==3.2.0 yacs==0.1.8 tabulate==0.9.0 termcolor==3.1.0
	touch $@

# asteroid's Conv-TasNet, the AudioSlots bench's peer separator, in its own folder (bench only):
# --no-deps keeps torch; asteroid's model and loss imports need only these few pure-Python packages
ASTEROID := $(VENV)/asteroid
$(VENV)/.installed-asteroid: $(VENV)/.installed-dev
	rm -rf $(ASTEROID)
	$(PIP) --no-deps --target $(ASTEROID) asteroid==0.7.0 asteroid-filterbanks==0.4.0 requests==2.34.2 \
		huggingface_hub==2.4.0 certifi==2026.10.19.post1 idna==3.21 urllib3==2.8.0 charset-normalizer==3.5.3
	touch $@

# RecBole, the PCRec bench's reference for BPR / LightGCN (bench/_recbole.py), likewise in its own folder:
# --no-deps keeps torch (and skips ray, needed only by RecBole's hyper-parameter search)
RECBOLE := $(VENV)/recbole
$(VENV)/.installed-recbole: $(VENV)/.installed-dev
	rm -rf $(RECBOLE)
	$(PIP) --no-deps --target $(RECBOLE) recbole==1.2.1 colorlog==4.7.2 colorama==0.4.4 thop==0.1.1.post2209072238 \
		texttable==1.7.2 pandas==3.1.1 python-dateutil==2.9.0.post0 tzdata==2025.2 psutil==7.2.2 scikit-learn==1.9.1 \
		six==1.17.0 threadpoolctl==3.8.0 joblib==1.6.0
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/paperzoo demo

test: $(VENV)/.installed-dev $(VENV)/.installed-ref
	$(VENV)/bin/python -m pytest -q
	PAPERZOO_REFERENCE_TESTS=1 PYTHONPATH=$(REFERENCE) $(VENV)/bin/python -m pytest -q tests/reference

# real-data benchmarks read the shared data folder unless PAPERZOO_DATA says otherwise
bench: export PAPERZOO_DATA ?= ../shared/data
bench: $(VENV)/.installed-dev $(VENV)/.installed-ref $(VENV)/.installed-asteroid $(VENV)/.installed-recbole
	$(VENV)/bin/python bench/margin_losses.py
	$(VENV)/bin/python bench/margin_classifier.py
	$(VENV)/bin/python bench/margin_cifar10.py
	$(VENV)/bin/python bench/prior_sampling.py
	PYTHONPATH=$(RECBOLE) $(VENV)/bin/python bench/pcrec.py
	$(VENV)/bin/python bench/video_motion.py
	$(VENV)/bin/python bench/x3d_expand.py
	$(VENV)/bin/python bench/video_flow.py
	$(VENV)/bin/python bench/video_weights.py
	$(VENV)/bin/python bench/vqvae_audio.py
	$(VENV)/bin/python bench/vqvae_video.py
	PYTHONPATH=$(ASTEROID) $(VENV)/bin/python bench/audioslots_fsdd2mix.py
	$(VENV)/bin/python bench/bits_per_dim.py

clean:
	rm -rf $(VENV) runs .pytest_cache
