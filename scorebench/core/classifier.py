"""Feature classifiers: a small MLP trained on a labelled dataset's own train split (digits, mnist5k),
whose penultimate layer is the feature space of FID/KID there (Inception's 299×299 features say little
about 8×8 or 28×28 grey digits)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from .data import build_dataset
from ..errors import DataError
from ..io import provenance, save_torch

STEP_VALUES = 2**17  # input values per step: the whole split while it fits (digits, 1497 × 64), else minibatches (mnist5k: 167 of 784)


class FeatureClassifier(nn.Module):
    """MLP dim → hidden → feature_dim → classes; `features` is the ReLU output before the linear head."""

    def __init__(self, dim: int = 64, classes: int = 10, hidden: int = 256, feature_dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(path: str | os.PathLike, kind: str = "digits", seed: int = 0, *, steps: int = 400,
                     lr: float = 1e-3, hidden: int = 256, feature_dim: int = 64) -> dict:
    """Train on the train split of dataset `kind` (its defaults, so one file serves every config; Adam),
    write the record to `path`, return it.

    Each step sees a fresh uniform dequantisation of the grey levels, so the features of continuous
    generated samples are not out of distribution; it takes the whole split while that is at most
    `STEP_VALUES` values, else that many values' worth of rows drawn at random. About a second on a CPU.
    """
    start = time.perf_counter()
    data = build_dataset(kind, {"kind": kind})
    if data.labels is None:
        raise DataError(f"features.classifier: dataset kind {kind} has no labels to train a classifier on; "
                        "set evaluate.features to raw or inception")
    train_labels, test_labels = data.labels
    classes = int(train_labels.max()) + 1
    rows = STEP_VALUES // data.dim
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initialisation only; the global stream is restored afterwards
        net = FeatureClassifier(data.dim, classes, hidden, feature_dim)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        if len(data.train) <= rows:
            x, y = data.train, train_labels
        else:
            pick = torch.randint(len(data.train), (rows,), generator=generator)
            x, y = data.train[pick], train_labels[pick]
        loss = nn.functional.cross_entropy(net(data.dequantize(x, generator)), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(data.test).argmax(1) == test_labels).double().mean().item()
    record = {"state_dict": net.state_dict(), "kind": kind, "dim": data.dim, "classes": classes, "hidden": hidden,
              "feature_dim": feature_dim, "seed": seed, "steps": steps, "lr": lr, "test_accuracy": accuracy,
              "n_test": len(test_labels), "seconds": time.perf_counter() - start, "provenance": provenance()}
    save_torch(record, path)
    return record


def load_classifier(path: str | os.PathLike, map_location="cpu") -> tuple[FeatureClassifier, dict]:
    """(classifier in eval mode, its training record) from a file written by `train_classifier`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"feature classifier {path} not found; train it with "
                        f"scorebench.core.classifier.train_classifier('{path}', KIND)")
    try:
        record = torch.load(path, map_location=map_location, weights_only=True)
        net = FeatureClassifier(record["dim"], record["classes"], record["hidden"], record["feature_dim"])
        net.load_state_dict(record["state_dict"])
    except Exception as err:  # torch.load fails on a damaged file in many ways (pickle, zip, struct, state-dict keys)
        raise DataError(f"feature classifier {path} is corrupt ({type(err).__name__}); "
                        f"delete it and train it again") from None
    return net.to(map_location).eval(), record
