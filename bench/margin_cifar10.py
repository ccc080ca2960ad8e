"""Real data: linear margin classifiers on CIFAR-10 airplane (-1) vs automobile (+1) raw pixels.

Dataset: CIFAR-10 from the data root (PAPERZOO_DATA, e.g. ../shared/data; JPEG image folders).
Split: the official train images of the two classes (10,000) for training, their official test
images (2,000) for testing. Features: 3072 pixels in [0, 1], standardised with training statistics.
Peers, in one run: MarginClassifier with each loss (alpha 1e-4, batch 1024, 20 epochs = 200 steps
raised to min_steps = 1000, seed 0) and scikit-learn's SGDClassifier (alpha 1e-4, random_state 0)
for the five losses it shares; plus the engine (`paperzoo train losses/margin_cifar10`: L1Hinge,
2,000 Adam steps of 256, seed 0). Usage: PAPERZOO_DATA=../shared/data python bench/margin_cifar10.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402
from margin_classifier import SHARED  # noqa: E402

from paperzoo.data.images import load_image_folder  # noqa: E402
from paperzoo.data.registry import require_dataset  # noqa: E402
from paperzoo.engine.run import evaluate, train  # noqa: E402
from paperzoo.losses import MARGIN_LOSSES, MarginClassifier  # noqa: E402

CLASSES = ["airplane", "automobile"]


def load(split):
    images, labels = load_image_folder(require_dataset("cifar10"), split, CLASSES)
    return images.reshape(len(images), -1).astype(np.float32) / 255, np.where(labels == 1, 1.0, -1.0)


def main():
    t0 = time.perf_counter()
    (Xtr, ytr), (Xte, yte) = load("train"), load("test")
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr).astype(np.float32), scaler.transform(Xte).astype(np.float32)
    print(f"loaded {len(Xtr)} train / {len(Xte)} test images in {time.perf_counter() - t0:.1f} s", flush=True)

    records, rows = [], []
    for loss in MARGIN_LOSSES:
        if loss == "ZeroOneLoss":
            continue
        t0 = time.perf_counter()
        ours = MarginClassifier(loss, alpha=1e-4, seed=0).fit(Xtr, ytr)
        rec = {"loss": loss, "ours_accuracy": ours.score(Xte, yte), "ours_fit_s": time.perf_counter() - t0}
        if loss in SHARED:
            t0 = time.perf_counter()
            sgd = SGDClassifier(loss=SHARED[loss], alpha=1e-4, random_state=0).fit(Xtr, ytr)
            rec.update(sgd_accuracy=sgd.score(Xte, yte), sgd_fit_s=time.perf_counter() - t0)
        records.append(rec)
        rows.append([loss, rec["ours_accuracy"], rec.get("sgd_accuracy", "-"), rec["ours_fit_s"], rec.get("sgd_fit_s", "-")])
        print(rows[-1], flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_dir = train("losses/margin_cifar10", [f"out_dir={tmp}", "trainer.progress_bar=false"])
        engine = {"config": "losses/margin_cifar10", "val_accuracy": evaluate(run_dir)["metrics"]["val/accuracy"],
                  "seconds": time.perf_counter() - t0}
    print(engine)
    md = table(["loss", "ours test acc", "SGDClassifier test acc", "ours fit s", "SGD fit s"], rows)
    markdown = (f"`bench/margin_cifar10.py`: {' '.join(__doc__.splitlines()[2:9])}\n\n{md}\n\n"
                f"Engine run (`paperzoo train losses/margin_cifar10`, L1HingeLoss, 2,000 steps, seed 0): "
                f"test accuracy {engine['val_accuracy']:.4f} in {engine['seconds']:.0f} s including data loading.\n")
    write_results("margin_cifar10", {"records": records, "engine": engine}, markdown)
    print(md)


if __name__ == "__main__":
    main()
