"""MarginClassifier vs scikit-learn's SGDClassifier: test accuracy and fit time, side by side.

Data: scikit-learn's bundled breast-cancer set (569 examples, 30 features; stratified 70/30 split,
random_state=0, standardised on the training part) and 120k generated 100-D Gaussian blobs with 5%
label noise (100k train / 20k test, seed 0; Bayes accuracy about 0.807). Both classifiers use
alpha = 1e-4 and their defaults otherwise; SGDClassifier's accuracy on breast cancer is the mean
over random_state 0-4, ours over seeds 0-2. Target (issue 3): ours within 1 point of SGDClassifier.
Usage: python bench/margin_classifier.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import table, write_results  # noqa: E402

from paperzoo.data.synthetic import gaussian_blobs  # noqa: E402
from paperzoo.losses import MARGIN_LOSSES, MarginClassifier  # noqa: E402

SHARED = {"L1HingeLoss": "hinge", "L2HingeLoss": "squared_hinge", "ModifiedHuberLoss": "modified_huber",
          "LogitMarginLoss": "log_loss", "PerceptronLoss": "perceptron"}


def datasets():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    yield "breast_cancer", (scaler.transform(Xtr), ytr, scaler.transform(Xte), yte), (range(5), range(3))
    X, y = gaussian_blobs(120_000, 100, separation=2.0, label_noise=0.05, seed=0)
    X, y = X.numpy(), y.numpy()
    yield "blobs_100k_x100", (X[:100_000], y[:100_000], X[100_000:], y[100_000:]), (range(1), range(1))


def fit_scores(make, seeds, data):
    Xtr, ytr, Xte, yte = data
    accs, secs = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        model = make(seed).fit(Xtr, ytr)
        secs.append(time.perf_counter() - t0)
        accs.append(model.score(Xte, yte))
    return float(np.mean(accs)), float(np.mean(secs))


def main():
    records, rows = [], []
    for data_name, data, (sk_seeds, our_seeds) in datasets():
        for loss in MARGIN_LOSSES:
            if loss == "ZeroOneLoss":
                continue  # zero gradient everywhere: nothing to train
            ours_acc, ours_s = fit_scores(lambda s: MarginClassifier(loss, alpha=1e-4, seed=s), our_seeds, data)
            rec = {"data": data_name, "loss": loss, "ours_accuracy": ours_acc, "ours_fit_s": ours_s}
            if loss in SHARED:
                sk_acc, sk_s = fit_scores(lambda s: SGDClassifier(loss=SHARED[loss], alpha=1e-4, random_state=s), sk_seeds, data)
                rec.update(sgd_loss=SHARED[loss], sgd_accuracy=sk_acc, sgd_fit_s=sk_s, accuracy_diff_points=100 * (ours_acc - sk_acc))
            records.append(rec)
            rows.append([data_name, loss, rec["ours_accuracy"], rec.get("sgd_accuracy", "-"),
                         rec.get("accuracy_diff_points", "-"), rec["ours_fit_s"], rec.get("sgd_fit_s", "-")])
            print(rows[-1], flush=True)
    md = table(["data", "loss", "ours acc", "SGDClassifier acc", "diff (points)", "ours fit s", "SGD fit s"], rows)
    worst = min(r["accuracy_diff_points"] for r in records if "accuracy_diff_points" in r)
    markdown = (f"`bench/margin_classifier.py`: {__doc__.splitlines()[2]} {' '.join(__doc__.splitlines()[3:7])}\n\n"
                f"Worst accuracy difference (ours - SGDClassifier): {worst:+.2f} points.\n\n{md}\n")
    write_results("margin_classifier", {"records": records}, markdown)
    print(md)


if __name__ == "__main__":
    main()
