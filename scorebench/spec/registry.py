"""One registry mechanism: a name -> object mapping whose keys are the config values."""
from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Annotated, Callable, Generic, Iterator, TypeVar

from ..errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named entries that refuses duplicates and lists valid keys on a miss."""

    def __init__(self, concept: str):
        self.concept = concept
        self._entries: dict[str, T] = {}

    def register(self, name: str, **facts) -> Callable[[T], T]:
        """Add an entry under `name`: a class learns its key as `kind`; `facts` (for a function entry,
        which has no class attributes) become its attributes, read by the generated catalog."""
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"duplicate {self.concept} {name!r}")
            for key, value in facts.items():
                setattr(obj, key, value)
            if inspect.isclass(obj):
                obj.kind = name
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
    spec = read_values(factory, spec, where)
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


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric parameter, declared once in its constructor's annotation
    (`steps: Annotated[int, Range(2)] = 100`): `build` refuses a value outside it by key path, and
    the generated components schema carries it, so the workflow's torch-free parse refuses it too."""

    low: float
    high: float | None = None
    low_open: bool = False  # > low instead of >= low
    high_open: bool = False  # < high instead of <= high

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def text(self) -> str:
        if self.high is None:
            return f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def schema(self) -> dict:
        """The JSON-schema keywords of the range."""
        out = {"exclusiveMinimum" if self.low_open else "minimum": self.low}
        if self.high is not None:
            out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out

    @classmethod
    def of_schema(cls, schema: dict) -> "Range":
        """The range whose `schema()` these keywords are."""
        return cls(schema.get("exclusiveMinimum", schema.get("minimum")),
                   schema.get("exclusiveMaximum", schema.get("maximum")),
                   low_open="exclusiveMinimum" in schema, high_open="exclusiveMaximum" in schema)


RANGE_KEYWORDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


@dataclass(frozen=True)
class OneOf:
    """The allowed texts of a parameter (`method: Annotated[str, OneOf(*SOLVERS)]`), generated into the
    schema as an enum: the torch-free parse refuses any other by key path, naming the valid ones."""

    values: tuple

    def __init__(self, *values):
        object.__setattr__(self, "values", tuple(values))


@dataclass(frozen=True)
class Length:
    """The least number of items of a list parameter (`Annotated[list[COUNT], Length(1)]`: non-empty)."""

    low: int


POSITIVE = Range(0, low_open=True)


COUNT = Annotated[int, Range(1)]  # a count: an integer >= 1
SCALE = Annotated[float, POSITIVE]  # a scale or tolerance: a number > 0


def annotations(factory) -> dict[str, object]:
    """Each parameter's annotation of `factory` (a class: its constructor), evaluated in its module
    (postponed annotations are text); a parameter without one, or one that does not evaluate, is left out."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    scope = getattr(target, "__globals__", None)
    if scope is None:  # a class without a constructor of its own in Python (object's): no annotations
        return {}
    out = {}
    for name, param in inspect.signature(target).parameters.items():
        note = param.annotation
        if isinstance(note, str):
            try:
                note = eval(note, scope)  # noqa: S307 - the code's own annotation, never config text
            except Exception:  # noqa: BLE001 - a name imported for type checkers only
                continue
        if note is not inspect.Parameter.empty:
            out[name] = note
    return out


def ranges(factory) -> dict[str, tuple[object, Range]]:
    """Parameter -> (its type, its Range) for every parameter of `factory` annotated
    `Annotated[<type>, Range(...)]` (or COUNT, SCALE)."""
    out = {}
    for name, note in annotations(factory).items():
        if typing.get_origin(note) is Annotated:
            base, *extras = typing.get_args(note)
            out.update({name: (base, extra) for extra in extras if isinstance(extra, Range)})
    return out


def read_values(factory, values: dict, where: str) -> dict:
    """`values` for `factory`'s parameters, checked: YAML 1.1 reads 1e-5 (no dot) as text, which a
    float parameter (by annotation or default) takes as the number; each declared Range holds. A
    problem is one line naming `where`.<key>."""
    out, notes = dict(values), annotations(factory)
    defaults = {name: p.default for name, p in inspect.signature(factory).parameters.items()}
    for key, value in values.items():
        note = notes.get(key)
        base = typing.get_args(note)[0] if typing.get_origin(note) is Annotated else note
        if isinstance(value, str) and (base is float or isinstance(defaults.get(key), float)):
            try:
                out[key] = float(value)
            except ValueError:
                raise ConfigError(f"{where}.{key}: must be a number (got {value!r})") from None
    for key, (base, allowed) in ranges(factory).items():
        value, types = out.get(key), typing.get_args(base) or (base,)
        if key not in out or (value is None and type(None) in types):
            continue
        integer = float not in types
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not allowed.holds(value):
            raise ConfigError(f"{where}.{key}: must be {kind} {allowed.text()} (got {value!r})")
    return out


def at_least(minimum: int, **values) -> None:
    """Each value an integer (not a bool) >= `minimum`, else one line naming its key: for values a
    Range annotation cannot reach (the items of a list)."""
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{key}: must be an integer >= {minimum} (got {value!r})")
