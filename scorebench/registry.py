"""One registry mechanism: a name -> object mapping whose keys are the config values."""
from __future__ import annotations

import inspect
from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named entries that refuses duplicates and lists valid keys on a miss."""

    def __init__(self, concept: str):
        self.concept = concept
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"duplicate {self.concept} {name!r}")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.concept} {name!r}; valid: {', '.join(sorted(self._entries))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def keys(self) -> list[str]:
        return sorted(self._entries)


def build(registry: Registry, spec: dict, where: str, **context):
    """Call the entry `spec['kind']` with the rest of `spec` as keywords (plus `context`).

    Unknown keys are refused by name before the call, so a typo in a config never reaches the
    builder as a confusing TypeError.
    """
    spec = dict(spec)
    if "kind" not in spec:
        raise ConfigError(f"{where}: missing 'kind'; valid: {', '.join(registry.keys())}")
    kind = spec.pop("kind")
    if kind not in registry:
        raise ConfigError(f"{where}.kind: unknown {registry.concept} {kind!r}; valid: {', '.join(registry.keys())}")
    factory = registry.get(kind)
    accepted = inspect.signature(factory).parameters
    for key, value in spec.items():  # YAML 1.1 reads 1e-5 (no dot) as a string: a float parameter takes it
        param = accepted.get(key)
        if param is not None and isinstance(param.default, float) and isinstance(value, str):
            try:
                spec[key] = float(value)
            except ValueError:
                raise ConfigError(f"{where}.{key}: must be a number (got {value!r})") from None
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted((set(spec) - set(accepted)) | (set(spec) & set(context)))
        if unknown:
            allowed = sorted(set(accepted) - set(context))
            raise ConfigError(
                f"{where}: unknown key {unknown[0]!r} for {registry.concept} {kind!r}; allowed: {', '.join(allowed)}"
            )
    try:
        return factory(**spec, **context)
    except ConfigError as err:  # the entry names its own key ("steps: must be ..."): give the full path
        message = str(err)
        if message.startswith(f"{where}") or message.startswith(f"{where.split('.')[0]}."):
            raise
        key = message.split(":", 1)[0]
        raise ConfigError(f"{where}.{message}" if key.isidentifier() else f"{where}: {message}") from None


def at_least(minimum: int, **values) -> None:
    """Each value an integer (not a bool) >= `minimum`, else one line naming its key: a component's
    constructor check, which `build` prefixes with the entry's path."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{key}: must be an integer >= {minimum} (got {value!r})")


def positive(**values) -> None:
    """Each value a number > 0, else one line naming its key."""
    for key, value in values.items():
        if not value > 0:
            raise ConfigError(f"{key}: must be > 0 (got {value})")
