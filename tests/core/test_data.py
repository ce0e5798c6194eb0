"""Datasets: shapes and splits, the exact densities of the toys, and the offline loaders."""
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from scorebench.spec.catalog import dataset_info
from scorebench.core.data import DATASETS, build_dataset
from scorebench.errors import ConfigError, DataError

SYNTHETIC = ["gaussian_mixture", "ncsn_toy", "ring", "moons", "swiss_roll", "checkerboard"]


@pytest.mark.parametrize("kind", SYNTHETIC)
def test_synthetic_datasets_are_mixtures_with_exact_density(kind):
    ds = build_dataset(kind, {"kind": kind, "n_train": 5000, "n_test": 500})
    assert ds.train.shape == (5000, ds.dim) and ds.test.shape == (500, ds.dim) and ds.synthetic
    assert dataset_info({"kind": kind}) == (True, ds.dim)
    # the samples come from the stated density: mean log-likelihood ≈ −entropy, checked by
    # comparing the training set's average log p with that of a fresh large sample (4 SE)
    fresh = ds.mixture.sample(50000, torch.Generator().manual_seed(9))
    lp_train, lp_fresh = ds.mixture.log_prob(ds.train.double()), ds.mixture.log_prob(fresh.double())
    se = (lp_train.var() / len(lp_train) + lp_fresh.var() / len(lp_fresh)).sqrt()
    assert abs(lp_train.mean() - lp_fresh.mean()) < 4 * se


def test_ncsn_toy_is_the_papers_mixture():
    ds = build_dataset("toy", {"kind": "ncsn_toy"})
    torch.testing.assert_close(ds.mixture.weights, torch.tensor([0.2, 0.8], dtype=torch.float64))
    torch.testing.assert_close(ds.mixture.means, torch.tensor([[-5.0, -5.0], [5.0, 5.0]], dtype=torch.float64))


def test_gaussian_mixture_in_any_dimension():
    ds = build_dataset("g", {"kind": "gaussian_mixture", "dim": 16, "n_components": 3})
    assert ds.dim == 16 and ds.mixture.means.shape == (3, 16)
    assert dataset_info({"kind": "gaussian_mixture", "dim": 16}) == (True, 16)


@pytest.mark.parametrize("spec,field", [
    ({"kind": "gaussian_mixture", "dim": 0}, "dim"),
    ({"kind": "gaussian_mixture", "means": [[0.0], [1.0]], "weights": [0.5, 0.6]}, "weights"),
    ({"kind": "gaussian_mixture", "means": [[0.0], [1.0]], "stds": [1.0, -1.0]}, "stds"),
    ({"kind": "ring", "n_train": 0}, "n_train"),
    ({"kind": "ring", "modes": 3}, "modes"),
    ({"kind": "imagenet"}, "imagenet"),
])
def test_bad_dataset_parameters_are_named(spec, field):
    with pytest.raises(ConfigError, match=field):
        build_dataset("x", spec)


def test_digits_split_is_fixed_and_quantised():
    a, b = build_dataset("d", {"kind": "digits"}), build_dataset("d", {"kind": "digits"})
    assert a.train.shape == (1497, 1, 8, 8) and a.test.shape == (300, 1, 8, 8) and a.levels == 17
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert a.train.min() > -1 and a.train.max() < 1
    x = a.dequantize(a.train[:100], torch.Generator().manual_seed(0))
    assert ((x - a.train[:100]).abs() <= 1 / 17 + 1e-6).all()  # stays inside its quantisation bin


def write_idx(path, array):
    dims = array.shape
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(">" + "I" * len(dims), *dims))
        f.write(array.astype(np.uint8).tobytes())


def test_mnist_loads_through_torchvision_from_a_local_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
        # torchvision reads the unpacked files
        for kind in ("images-idx3", "labels-idx1"):
            gz = raw / f"{split}-{kind}-ubyte.gz"
            (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    ds = build_dataset("m", {"kind": "mnist", "root": str(tmp_path)})
    assert ds.train.shape == (12, 1, 28, 28) and ds.test.shape == (5, 1, 28, 28) and ds.levels == 256


def test_cifar10_loads_from_the_python_pickles(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / batch, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0] * 4}, f)
    ds = build_dataset("c", {"kind": "cifar10", "root": str(tmp_path)})
    assert ds.train.shape == (20, 3, 32, 32) and ds.test.shape == (4, 3, 32, 32)


@pytest.mark.parametrize("kind,file", [("mnist", "MNIST"), ("cifar10", "data_batch_1")])
def test_missing_image_data_names_the_location(tmp_path, kind, file):
    with pytest.raises(DataError, match=file) as err:
        build_dataset(kind, {"kind": kind, "root": str(tmp_path)})
    assert "download=True" in str(err.value) and "\n" not in str(err.value)


def test_corrupt_cifar_file_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_1.*corrupt"):
        build_dataset("c", {"kind": "cifar10", "root": str(tmp_path)})


def test_registry_lists_every_dataset():
    assert set(DATASETS.keys()) == set(SYNTHETIC) | {"digits", "mnist", "cifar10"}
