"""Atomic artefact writing (temp file + rename) and the provenance stamped on every artefact."""
from __future__ import annotations

import json
import os
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from .errors import artefact_error


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artefacts get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | os.PathLike, map_location=None) -> Any:
    """A project artefact, tensors and plain containers only (`weights_only=True`: an object pickled
    into a file under results/ cannot run code); a damaged or foreign file is one ArtefactError."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch.load fails on a damaged file in many ways (zip, pickle, struct, unpickler)
        raise artefact_error(path, err) from None


def save_json(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_bytes(data: bytes, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def provenance() -> dict[str, str]:
    """Versions and machine that produced an artefact."""
    from . import __version__

    return {
        "scorebench": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "node": platform.node(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
