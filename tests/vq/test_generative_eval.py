"""Rejection sampling and the sample-quality metrics."""

import numpy as np
import pytest
import torch

from paperzoo.metrics.generative import frechet_distance, precision_recall
from paperzoo.priors.rejection import rejection_sample


def test_rejection_keeps_exactly_the_samples_above_threshold():
    stream = torch.arange(40, dtype=torch.float32)
    cursor = {"i": 0}

    def sample(b):
        out = stream[cursor["i"] : cursor["i"] + b]
        cursor["i"] += b
        return out

    def classify(x):  # p(class 1) = x / 40 exactly: logits log(1 - p), log(p)
        p = (x / 40).clamp(1e-6, 1 - 1e-6)
        return torch.stack([torch.log1p(-p), torch.log(p)], 1)

    result = rejection_sample(sample, classify, target=1, threshold=0.5, n=100, batch=8, max_draws=40)
    assert result.samples.tolist() == list(range(20, 40))  # p >= 0.5 <=> x >= 20
    assert result.drawn == 40 and result.acceptance_rate == 0.5
    assert (result.probabilities >= 0.5).all()
    cursor["i"] = 0
    early = rejection_sample(sample, classify, target=1, threshold=0.5, n=3, batch=8)
    assert early.samples.tolist() == [20, 21, 22] and early.drawn == 24  # stops once n are accepted
    with pytest.raises(Exception, match="threshold"):
        rejection_sample(sample, classify, target=1, threshold=1.5, n=1)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.5])
    # same covariance, shifted mean: the distance is ||shift||^2 (up to sampling noise)
    assert frechet_distance(a, rng.normal(size=(4000, 3)) + shift) == pytest.approx(5.25, abs=0.15)
    # closed form for scaled isotropic Gaussians: Tr(I + s^2 I - 2 s I) = d (1 - s)^2
    assert frechet_distance(a, 2 * rng.normal(size=(4000, 3))) == pytest.approx(3.0, abs=0.25)


def test_precision_recall():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(500, 2))
    p, r = precision_recall(real, rng.normal(size=(500, 2)))
    assert p > 0.9 and r > 0.9
    far = precision_recall(real, rng.normal(size=(500, 2)) + 50)
    assert far == (0.0, 0.0)
    collapsed = real[real[:, 0] > 1.0]  # mode dropping: good samples, little coverage
    p, r = precision_recall(real, collapsed + 0.01 * rng.normal(size=collapsed.shape))
    assert p > 0.9 and r < 0.4


def test_classification_accuracy_score():
    import paperzoo
    from paperzoo.metrics.generative import classification_accuracy_score

    gen = torch.Generator().manual_seed(0)
    def images(label, n):  # class 0 dark, class 1 bright
        return (torch.rand(n, 3, 16, 16, generator=gen) * 0.3 + (0.1 if label else -0.4))
    train_x = torch.cat([images(0, 64), images(1, 64)])
    train_y = torch.cat([torch.zeros(64), torch.ones(64)]).long()
    test_x = torch.cat([images(0, 32), images(1, 32)])
    test_y = torch.cat([torch.zeros(32), torch.ones(32)]).long()
    make = lambda: paperzoo.create_model("cifar_classifier", num_classes=2, width=16)  # noqa: E731
    assert classification_accuracy_score(train_x, train_y, test_x, test_y, make_model=make, steps=60) > 0.95
    # samples whose labels carry no information: the score falls to chance
    shuffled = train_y[torch.randperm(128, generator=gen)]
    assert classification_accuracy_score(train_x, shuffled, test_x, test_y, make_model=make, steps=60) < 0.8


def test_classifier_task_and_rejection_with_it(cli, tiny, tmp_path):
    from conftest import only_run_dir, write_config
    from test_data import make_image_folder

    make_image_folder(tmp_path / "data" / "cifar10", per_class=16)
    config = write_config(
        tmp_path / "clf.yaml", tmp_path / "runs", task="classifier", name="clf",
        trainer={"max_steps": 60, "val_every": 60, "checkpoint_every": 60, "progress_bar": False},
        optim={"name": "adam", "lr": 3e-3}, model={"name": "cifar_classifier", "width": 16},
        data={"source": "cifar10", "batch_size": 16},
    )
    code, out, err = cli("train", config, "--data-dir", tmp_path / "data")
    assert code == 0, err
    run = only_run_dir(tmp_path / "runs", "clf")
    code, out, _ = cli("evaluate", "--model", run, "--data-dir", tmp_path / "data")
    assert code == 0 and '"val/accuracy": 1.0' in out  # two flat colours: trivially separable
    from paperzoo.io.checkpoints import load_model

    judge = load_model(run)
    dark = torch.full((4, 3, 8, 8), -0.5 + 60 / 255)  # the colour of class 0 in make_image_folder
    bright = torch.full((4, 3, 8, 8), -0.5 + 180 / 255)
    pool = torch.cat([dark, bright])
    result = rejection_sample(lambda b: pool, judge, target=1, threshold=0.9, n=4, batch=8)
    assert torch.equal(result.samples, bright) and result.acceptance_rate == 0.5


def test_fid_inception_structure_and_loading(tmp_path):
    """The FID Inception graph: torchvision's Inception3 layout without the auxiliary head and a
    1008-way fc, i.e. exactly 23,850,960 parameters; weights files load strictly and safely."""
    import torch

    from paperzoo.errors import CheckpointError
    from paperzoo.metrics.inception import FIDInceptionV3

    torch.manual_seed(0)
    model = FIDInceptionV3().eval()
    assert sum(p.numel() for p in model.parameters()) == 23_850_960
    state = model.state_dict()
    assert state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert state["Conv2d_1a_3x3.bn.running_var"].shape == (32,)
    with torch.no_grad():
        feats = model(torch.rand(2, 3, 32, 32))
    assert feats.shape == (2, 2048) and (feats >= 0).all()
    torch.save(state, tmp_path / "w.pth")
    again = FIDInceptionV3.from_file(tmp_path / "w.pth")
    with torch.no_grad():
        torch.testing.assert_close(again(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))),
                                   model(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))))
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not the FID Inception"):
        FIDInceptionV3.from_file(tmp_path / "other.pth")
    torch.save(FIDInceptionV3, tmp_path / "code.pth")  # a pickled class, not tensors: refused
    with pytest.raises(CheckpointError, match="not a readable weights file"):
        FIDInceptionV3.from_file(tmp_path / "code.pth")
