"""NFE sweeps: a sampler entry whose step-count parameter is a list becomes one entry per count.

`samplers: {em: {kind: em, steps: [5, 10, 20]}}` is expanded at parse time, torch-free, into `em_5`,
`em_10` and `em_20`, each `{kind: em, steps: <count>, sweep: em}`: so every count is its own grid cell
under the Snakemake sampler wildcard, the rows' `sampler` column and `scorebench grid`, and changing one
count reruns only that count's cells. `sweep` names the curve an entry belongs to in the report (an
entry may set it by hand to join a curve). Which parameter sweeps is the kind's fact `sweeps` (`steps`;
ald's `steps_per_level`); ode sweeps only with a fixed-grid method (an adaptive one picks its own steps).
"""
from __future__ import annotations

from . import catalog
from ..errors import ConfigError
from .packaged import components

SWEEP = "sweep"  # the key an expanded entry carries: the sweep (report curve) it belongs to
MAX_NAME = 64  # the schema's longest entry name


def expand(config: dict) -> None:
    """Replace, in place and in order, every sampler entry whose sweep parameter is a list by one entry
    per count (in `conditioning.samplers` too); a bad list (empty, a non-integer, below the parameter's minimum, a count twice) or an
    expanded name that collides with another entry is one line naming the key."""
    samplers, out, entries = config.get("samplers", {}), {}, {}
    for name, spec in samplers.items():
        key = _sweep_key(spec)
        if key is None or not isinstance(spec.get(key), list):
            _add(out, name, spec, f"samplers.{name}", taken=out)
            continue
        where = f"samplers.{name}.{key}"
        entries[name] = [f"{name}_{count}" for count in _counts(where, spec, key)]
        for entry, count in zip(entries[name], spec[key]):
            _add(out, entry, {**spec, key: count, SWEEP: spec.get(SWEEP, name)}, where, taken={**samplers, **out})
    config["samplers"] = out
    cond = config.get("conditioning")
    if isinstance(cond, dict) and isinstance(cond.get("samplers"), list):  # a sweep listed there: each of its entries
        cond["samplers"] = [e for s in cond["samplers"] for e in entries.get(s, [s])]


def _sweep_key(spec: dict) -> str | None:
    """The entry's sweep parameter (its kind's `sweeps` fact); None for an unknown kind (the names check's)."""
    kind = spec.get("kind")
    return catalog.SAMPLERS.get(kind).sweeps if kind in catalog.SAMPLERS else None


def _counts(where: str, spec: dict, key: str) -> list[int]:
    """The list's counts, each an integer at least the parameter's minimum, none twice, an ode with a fixed-grid method."""
    properties = components()["samplers"][spec["kind"]]["properties"]
    method = spec.get("method", properties.get("method", {}).get("default"))
    if spec["kind"] == "ode" and method not in catalog.FIXED_GRID_METHODS:
        raise ConfigError(f"{where}: a list of step counts needs a fixed-grid method ({', '.join(catalog.FIXED_GRID_METHODS)}); "
                          f"method {method!r} is adaptive and picks its own steps")
    counts = spec[key]
    if not counts:
        raise ConfigError(f"{where}: an empty list; give one or more step counts")
    lowest = properties[key].get("minimum", 1)
    seen: set[int] = set()
    for count in counts:
        if not isinstance(count, int) or isinstance(count, bool):
            raise ConfigError(f"{where}: every step count must be an integer (got {count!r})")
        if count < lowest:
            raise ConfigError(f"{where}: every step count must be an integer >= {lowest} (got {count!r})")
        if count in seen:
            raise ConfigError(f"{where}: step count {count} listed twice")
        seen.add(count)
    return counts


def _add(out: dict, name: str, spec: dict, where: str, taken: dict) -> None:
    """Put entry `name` into `out`, refusing a name in `taken` (the entries expanded so far, and for an
    expanded entry every entry the config gives)."""
    if name in taken:
        raise ConfigError(f"{where}: the sweep's entry {name!r} collides with another sampler named {name!r}; rename one")
    if len(name) > MAX_NAME:
        raise ConfigError(f"{where}: the sweep's entry name {name!r} is longer than {MAX_NAME} characters; shorten the entry's name")
    out[name] = spec


def members(config: dict) -> dict[str, list[str]]:
    """Each sweep of a validated config and its entries by ascending step count ({}: the config has no sweep)."""
    out: dict[str, list[str]] = {}
    samplers = config.get("samplers", {})
    for name, spec in samplers.items():
        if SWEEP in spec:
            out.setdefault(spec[SWEEP], []).append(name)
    return {sweep: sorted(entries, key=lambda e: _count(samplers[e])) for sweep, entries in out.items()}


def _count(spec: dict) -> int:
    """An entry's step count: its sweep parameter as given, else that parameter's default."""
    key = _sweep_key(spec)
    return spec.get(key, components()["samplers"][spec["kind"]]["properties"][key]["default"])


def shown(config: dict) -> list[str]:
    """The samplers a per-sampler figure shows: every entry outside a sweep, and each sweep's finest step count."""
    finest = {entries[-1] for entries in members(config).values()}
    return [name for name, spec in config.get("samplers", {}).items() if SWEEP not in spec or name in finest]
