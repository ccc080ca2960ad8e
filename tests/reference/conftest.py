"""The reference implementations, for the weight-import tests only.

`make test` runs this folder in a second pytest process with ``PYTHONPATH=.venv/reference``, where
the Makefile installed torchvision 0.28.0 and pytorchvideo 0.1.5 (``--no-deps``, outside the venv's
site-packages: torchvision is a CUDA build, and a torchvision that is importable would be imported
by torchmetrics during training). Its compiled ops do not load on the CPU torch; the video model
definitions never call them, so their schemas are declared (``_reference.install``: tests only,
never in src/). The main run ignores this folder (tests/conftest.py).
"""

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _reference import install  # noqa: E402

install()
with warnings.catch_warnings():  # pytorchvideo decorates functions with the deprecated torch.jit.script
    warnings.simplefilter("ignore", DeprecationWarning)
    import torchvision  # noqa: E402,F401  (fails loudly when the reference packages are missing)
    from pytorchvideo.models import hub  # noqa: E402,F401
