"""User-facing errors: one line naming the field or file and what to do."""
from __future__ import annotations

import os


class ScorebenchError(Exception):
    """Base of every error meant for a user; the CLI prints it without a traceback."""


class ConfigError(ScorebenchError):
    """A config key, value or combination is invalid."""


class DataError(ScorebenchError):
    """A dataset or weights file is missing or unreadable."""


class ArtefactError(ScorebenchError):
    """A file under results/ is missing, damaged, or not one scorebench wrote."""


def artefact_error(path: str | os.PathLike, err: Exception) -> ArtefactError:
    """The one-line error for an artefact that could not be read: missing, or damaged/foreign."""
    if isinstance(err, FileNotFoundError):
        return ArtefactError(f"{path}: missing; rerun the job that writes it")
    return ArtefactError(f"{path}: unreadable ({type(err).__name__}): damaged or not written by scorebench; "
                         "delete it and rerun the job that writes it")
