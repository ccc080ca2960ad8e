"""MarginClassifier: cross-checked against scikit-learn's SGDClassifier on real and generated data."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from paperzoo.data.synthetic import gaussian_blobs
from paperzoo.errors import InvalidArgumentError
from paperzoo.losses import LogitMarginLoss, MarginClassifier

# scikit-learn loss name -> the same psi here
SHARED = {"hinge": "L1HingeLoss", "squared_hinge": "L2HingeLoss", "modified_huber": "ModifiedHuberLoss",
          "log_loss": "LogitMarginLoss", "perceptron": "PerceptronLoss"}


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), ytr, scaler.transform(Xte), yte


@pytest.mark.parametrize("sk_loss", list(SHARED))
def test_matches_sgdclassifier_on_breast_cancer(breast_cancer, sk_loss):
    Xtr, ytr, Xte, yte = breast_cancer
    theirs = np.mean([SGDClassifier(loss=sk_loss, alpha=1e-4, random_state=s).fit(Xtr, ytr).score(Xte, yte) for s in range(5)])
    ours = np.mean([MarginClassifier(SHARED[sk_loss], alpha=1e-4, seed=s).fit(Xtr, ytr).score(Xte, yte) for s in range(3)])
    assert ours >= theirs - 0.01, f"{sk_loss}: ours {ours:.4f} vs SGDClassifier {theirs:.4f}"


@pytest.fixture(scope="module")
def generated_100k():
    X, y = gaussian_blobs(120_000, 100, separation=2.0, label_noise=0.05, seed=0)
    X, y = X.numpy(), y.numpy()
    return X[:100_000], y[:100_000], X[100_000:], y[100_000:]


@pytest.mark.parametrize("sk_loss", list(SHARED))
def test_matches_sgdclassifier_on_100k_generated(generated_100k, sk_loss):
    """100k x 100 Gaussian blobs with 5% label noise (Bayes accuracy ~0.807)."""
    Xtr, ytr, Xte, yte = generated_100k
    theirs = SGDClassifier(loss=sk_loss, alpha=1e-4, random_state=0).fit(Xtr, ytr).score(Xte, yte)
    ours = MarginClassifier(SHARED[sk_loss], alpha=1e-4, seed=0).fit(Xtr, ytr).score(Xte, yte)
    assert ours >= theirs - 0.01, f"{sk_loss}: ours {ours:.4f} vs SGDClassifier {theirs:.4f}"
    assert ours <= 0.82  # cannot beat the Bayes rate by more than sampling noise


def test_labels_objective_and_determinism(breast_cancer):
    Xtr, ytr, Xte, yte = breast_cancer
    names = np.where(ytr == 1, "benign", "malignant")
    clf = MarginClassifier(LogitMarginLoss(), seed=3).fit(Xtr, names)
    assert set(clf.predict(Xte)) <= {"benign", "malignant"}
    assert list(clf.classes_) == ["benign", "malignant"]  # sorted; the larger label is +1
    again = MarginClassifier(LogitMarginLoss(), seed=3).fit(Xtr, names)
    np.testing.assert_array_equal(clf.coef_, again.coef_)
    # training lowered the regularised risk far below the risk at w = 0 (log 2 for the logistic loss)
    assert clf.objective(Xtr, names) < 0.2 < np.log(2)
    assert clf.decision_function(Xte).shape == (len(Xte),)


def test_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(InvalidArgumentError, match="exactly 2 classes"):
        MarginClassifier().fit(X, np.arange(20) % 3)
    with pytest.raises(InvalidArgumentError, match="not fitted"):
        MarginClassifier().predict(X)
    clf = MarginClassifier(min_steps=10).fit(X, np.arange(20) % 2)
    with pytest.raises(InvalidArgumentError, match="features"):
        clf.predict(X[:, :2])
    X[0, 0] = np.nan
    with pytest.raises(InvalidArgumentError, match="NaN"):
        MarginClassifier().fit(X, np.arange(20) % 2)
    with pytest.raises(InvalidArgumentError):
        MarginClassifier("NoSuchLoss")
