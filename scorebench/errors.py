"""User-facing errors: one line naming the field or file and what to do."""


class ScorebenchError(Exception):
    """Base of every error meant for a user; the CLI prints it without a traceback."""


class ConfigError(ScorebenchError):
    """A config key, value or combination is invalid."""


class DataError(ScorebenchError):
    """A dataset or weights file is missing or unreadable."""


class ArtefactError(ScorebenchError):
    """A file under results/ is missing, damaged, or not one scorebench wrote."""

