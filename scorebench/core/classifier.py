"""Digits feature net: a small classifier on scikit-learn's 8×8 digits whose penultimate layer is
the feature space of FID/KID for digits (Inception's 299×299 features say little about 8×8 images)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn

from .data import build_dataset, digits_labels
from ..errors import DataError
from ..io import provenance, save_torch


class DigitsClassifier(nn.Module):
    """MLP 64 → hidden → feature_dim → 10; `features` is the ReLU output before the linear head."""

    def __init__(self, hidden: int = 256, feature_dim: int = 64):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                                  nn.Linear(hidden, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_digits_classifier(path: str | os.PathLike, seed: int = 0, *, steps: int = 400, lr: float = 1e-3,
                            hidden: int = 256, feature_dim: int = 64) -> dict:
    """Train on the digits train split (full batch, Adam), write the record to `path`, return it.

    Each step sees a fresh uniform dequantisation of the 17 grey levels, so the features of
    continuous generated samples are not out of distribution. Takes about a second on a CPU.
    """
    start = time.perf_counter()
    data = build_dataset("digits", {"kind": "digits"})
    train_labels, test_labels = (torch.as_tensor(y) for y in digits_labels())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initialisation only; the global stream is restored afterwards
        net = DigitsClassifier(hidden, feature_dim)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(net(data.dequantize(data.train, generator)), train_labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(data.test).argmax(1) == test_labels).double().mean().item()
    record = {"state_dict": net.state_dict(), "hidden": hidden, "feature_dim": feature_dim, "seed": seed,
              "steps": steps, "lr": lr, "test_accuracy": accuracy, "n_test": len(test_labels),
              "seconds": time.perf_counter() - start, "provenance": provenance()}
    save_torch(record, path)
    return record


def load_digits_classifier(path: str | os.PathLike, map_location="cpu") -> tuple[DigitsClassifier, dict]:
    """(classifier in eval mode, its training record) from a file written by `train_digits_classifier`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"digits classifier {path} not found; train it with "
                        f"scorebench.core.classifier.train_digits_classifier('{path}', seed)")
    try:
        record = torch.load(path, map_location=map_location, weights_only=True)
        net = DigitsClassifier(record["hidden"], record["feature_dim"])
        net.load_state_dict(record["state_dict"])
    except Exception as err:  # torch.load fails on a damaged file in many ways (pickle, zip, struct, state-dict keys)
        raise DataError(f"digits classifier {path} is corrupt ({type(err).__name__}); "
                        f"delete it and train it again") from None
    return net.to(map_location).eval(), record
