"""Data root resolution, dataset import (folders, archives, the CIFAR-10 binary release), offline
downloads, and training on an imported real-layout dataset."""

import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import only_run_dir
from paperzoo.data import registry
from paperzoo.data.images import load_image_folder
from paperzoo.errors import DataError
from paperzoo.io.atomic import _umask, atomic_path, atomic_write_text


def make_image_folder(root: Path, classes=("airplane", "automobile"), per_class=12, size=8, seed=0):
    """A CIFAR-like image folder: each class a different mean colour, so a linear model can learn it."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for i, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for j in range(per_class):
                pixels = np.clip(rng.normal(60 + 120 * i, 30, size=(size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{j:04d}.jpg")
    return root


def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERZOO_DATA", str(tmp_path / "env"))
    assert registry.data_root(tmp_path / "flag") == tmp_path / "flag"
    assert registry.data_root() == tmp_path / "env"
    monkeypatch.delenv("PAPERZOO_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert registry.data_root() == tmp_path / "cache" / "paperzoo"


def test_import_folder_then_require(tmp_path):
    src = make_image_folder(tmp_path / "download" / "cifar10-images")
    root = tmp_path / "data"
    with pytest.raises(DataError, match="not found"):
        registry.require_dataset("cifar10", root)
    registry.import_dataset("cifar10", tmp_path / "download", root)  # finds the layout one level down
    path = registry.require_dataset("cifar10", root)
    images, labels = load_image_folder(path, "train", ["automobile", "airplane"])
    assert images.shape == (24, 8, 8, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0] * 12 + [1] * 12  # indices follow the requested class order
    assert src.exists()  # an import copies, it never moves the user's files


def test_import_zip_archive(tmp_path):
    folder = make_image_folder(tmp_path / "imgs")
    archive = tmp_path / "cifar.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in folder.rglob("*.jpg"):
            zf.write(p, Path("cifar10") / p.relative_to(folder))
    registry.import_dataset("cifar10", archive, tmp_path / "data")
    assert registry.DATASETS["cifar10"].is_present(tmp_path / "data")


def test_import_of_wrong_content_leaves_nothing(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("not a dataset")
    with pytest.raises(DataError, match="layout of fsdd"):
        registry.import_dataset("fsdd", tmp_path / "junk", tmp_path / "data")
    assert not (tmp_path / "data" / "fsdd").exists()
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]
    with pytest.raises(DataError, match="does not exist"):
        registry.import_dataset("fsdd", tmp_path / "missing.zip", tmp_path / "data")
    with pytest.raises(DataError, match="unknown dataset"):
        registry.import_dataset("imagenet", tmp_path / "junk", tmp_path / "data")


def test_cifar10_binary_release_is_converted(tmp_path):
    """The official binary tarball (1 label byte + 3072 CHW bytes per record) -> PNG class folders."""
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    rng = np.random.default_rng(0)
    batch_dir = tmp_path / "cifar-10-batches-bin"
    batch_dir.mkdir()
    (batch_dir / "batches.meta.txt").write_text("\n".join(names) + "\n")
    records = {}
    for fname, labels in (("data_batch_1.bin", [3, 0, 9]), ("test_batch.bin", [1, 1])):
        rows = []
        for label in labels:
            chw = rng.integers(0, 256, size=3072, dtype=np.uint8)
            rows.append(np.concatenate([[label], chw]).astype(np.uint8))
            records.setdefault(fname, []).append((label, chw.reshape(3, 32, 32).transpose(1, 2, 0)))
        np.stack(rows).tofile(batch_dir / fname)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(batch_dir, arcname="cifar-10-batches-bin")
    out = registry.import_dataset("cifar10", archive, tmp_path / "data")
    cat = np.asarray(Image.open(out / "train" / "cat" / "data_batch_1_00000.png"))
    np.testing.assert_array_equal(cat, records["data_batch_1.bin"][0][1])  # pixels survive exactly
    assert len(list((out / "test" / "automobile").glob("*.png"))) == 2


def test_download_offline_is_a_clear_error(tmp_path, monkeypatch):
    spec = registry.DATASETS["fsdd"]
    monkeypatch.setitem(registry.DATASETS, "fsdd", replace(spec, urls=("http://127.0.0.1:9/fsdd.zip",)))
    with pytest.raises(DataError, match="could not download .*paperzoo data import fsdd"):
        registry.download_dataset("fsdd", tmp_path / "data", timeout=5)
    assert not (tmp_path / "data" / "fsdd").exists()
    with pytest.raises(DataError, match="no single official download"):
        registry.download_dataset("video", tmp_path / "data")


def test_official_urls_are_the_real_ones():
    assert registry.DATASETS["cifar10"].urls == ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",)
    assert "Jakobovski/free-spoken-digit-dataset" in registry.DATASETS["fsdd"].urls[0]


def test_data_cli(cli, tmp_path):
    make_image_folder(tmp_path / "imgs")
    code, out, _ = cli("data", "--data-dir", tmp_path / "data", "import", "cifar10", tmp_path / "imgs")
    assert code == 0 and "installed cifar10" in out
    code, out, _ = cli("data", "--data-dir", tmp_path / "data", "info")
    assert code == 0 and "cifar10  present" in out and "fsdd     missing" in out


def test_train_on_an_imported_image_dataset(cli, tiny, tmp_path):
    """The real-data path of the margin task: image folders -> flattened pixels -> linear model."""
    config, runs = tiny
    make_image_folder(tmp_path / "data" / "cifar10")
    code, _, err = cli("train", config, "data.source=cifar10", "data.batch_size=8", "--data-dir", tmp_path / "data")
    assert code == 0, err
    run = only_run_dir(runs)
    code, out, _ = cli("evaluate", "--model", run, "--data-dir", tmp_path / "data")
    assert code == 0 and '"val/accuracy": 1.0' in out  # the two colours are trivially separable


def test_corrupt_image_is_a_data_error(tmp_path):
    root = make_image_folder(tmp_path / "c", per_class=2)
    (root / "train" / "airplane" / "0000.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataError, match="cannot read image"):
        load_image_folder(root, "train")
    with pytest.raises(DataError, match="not in"):
        load_image_folder(root, "train", ["airplane", "zebra"])


def test_atomic_writes_leave_old_content_on_failure(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's 0600
