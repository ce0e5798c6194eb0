"""What a config declares at each key path, and values read by it, torch-free.

`schema_at` finds the JSON schema of any key path (the config schema, or the generated per-kind one
of the entry the path is in); text is then read as the type declared there: the `--config` values
Snakemake hands as text (`seeds=[0,1,2]` arrives as ['0', '1', '2']), and YAML 1.1 floats without a
dot (`1e-5` is text in YAML 1.1) wherever only a number is declared. `check_numbers` holds every number
of a config to be finite and within MAX_MAGNITUDE, and every key to be text.
"""
from __future__ import annotations

import copy
import math
import re
from typing import Iterator, Mapping

from ..errors import ConfigError
from . import catalog
from .packaged import OVERRIDABLE, components, schema as config_schema

MAX_MAGNITUDE = 2**31 - 1  # any number of a config: seeds, sizes and scales alike fit a 32-bit integer
INTEGER = re.compile(r"[-+]?[0-9]+")
FLOAT = re.compile(r"[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?")
BOOLEAN = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
ENTRIES = ("datasets", "schedules", "samplers")


def _resolved(schema: dict) -> dict:
    """`schema` with a $ref into the config schema's definitions, or a one-option allOf, followed."""
    while isinstance(schema, dict) and ("$ref" in schema or len(schema.get("allOf", [])) == 1):
        schema = ({**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}} if "allOf" in schema
                  else config_schema()["definitions"][schema["$ref"].rsplit("/", 1)[-1]])
    return schema if isinstance(schema, dict) else {}


def _within(schema: dict, rest) -> dict:
    for step in rest:
        schema = _resolved(schema)
        if isinstance(step, int):
            schema = schema.get("items", {})
        else:
            extra = schema.get("additionalProperties")
            schema = schema.get("properties", {}).get(step, extra if isinstance(extra, dict) else {})
    return _resolved(schema)


def _settings(values, key: str, rest, default_net: str = "mlp") -> dict:
    """The schema under a train, evaluate or scaling section (a network's by its kind: the one it names,
    else `default_net`, the kind the dataset's data get: `catalog.default_net`)."""
    if key == "train" and rest and rest[0] == "net":
        net = values.get("net") if isinstance(values, dict) else None
        kind = net.get("kind", default_net) if isinstance(net, dict) else default_net
        return {"type": "string"} if rest[1:2] == ("kind",) else _within(components()["train.net"].get(kind, {}), rest[1:])
    return _within(components()["settings"][key], rest)


def _entry(entries, section: str, rest) -> dict:
    """The schema under `<section>.<name>`: its kind's generated one (a dataset's overrides: the settings')."""
    name, key, *more = rest
    spec = entries.get(name) if isinstance(entries, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    if key == "kind":
        return {"type": "string"}
    if section == "datasets" and key in OVERRIDABLE:
        known = spec.get("kind") in catalog.DATASETS
        return _settings(spec.get(key), key, more, catalog.default_net(spec) if known else "mlp")
    kind = spec.get("kind")
    return _within(components()[section].get(kind, {}) if isinstance(kind, str) else {}, (key, *more))


def schema_at(config: dict, path: tuple) -> dict:
    """The JSON schema declared for the value at key path `path` of `config` ({}: nothing declared)."""
    head, rest = path[0], tuple(path[1:])
    if head in ENTRIES and len(rest) >= 2:
        return _entry(config.get(head), head, rest)
    cond = config.get("conditioning")
    if head == "conditioning" and len(rest) >= 3 and rest[0] in ("masks", "methods") and isinstance(cond, dict):
        return _entry(cond.get(rest[0]), f"conditioning.{rest[0]}", rest[1:])
    if head == "objectives" and len(rest) >= 3:  # objectives.<index>.<name>.<param>
        return _within(components()["objectives"].get(rest[1], {}), rest[2:])
    if head in components()["settings"] and rest:
        return _settings(config.get(head), head, rest)
    return _within(config_schema()["properties"].get(head, {}), rest)


def types(schema: dict) -> set[str]:
    """The JSON types `schema` allows (its own and those of its anyOf/oneOf options)."""
    out = {schema["type"]} if isinstance(schema.get("type"), str) else set(schema.get("type", []))
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        out |= types(_resolved(option))
    return out


def as_declared(text: str, schema: dict):
    """`text` read as the type `schema` declares (left as text where text is allowed or it does not read)."""
    kinds = types(schema)
    if not kinds or "string" in kinds:
        return text
    if "integer" in kinds and INTEGER.fullmatch(text):
        return int(text)
    if "number" in kinds and FLOAT.fullmatch(text):
        return float(text)
    if "boolean" in kinds and text.lower() in BOOLEAN:
        return BOOLEAN[text.lower()]
    if "null" in kinds and text in ("null", "~", ""):
        return None
    return text


def slots(node, path=()) -> Iterator[tuple[object, object, tuple]]:
    """(container, key, key path) of every scalar in a config tree, in mappings and lists."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, (dict, list)):
            yield from slots(value, (*path, key))
        else:
            yield node, key, (*path, key)


def read_floats(config: dict) -> None:
    """Read, in place, YAML 1.1's float text (`1e-5`) as the number wherever only numbers are declared."""
    for node, key, path in slots(config):
        value = node[key]
        if isinstance(value, str) and FLOAT.fullmatch(value) and types(schema_at(config, path)) & {"number"} \
                and "string" not in types(schema_at(config, path)):
            node[key] = float(value)


def with_overrides(config: dict, overrides: Mapping) -> dict:
    """A copy of `config` (the config files and `--config` merged, as Snakemake does) with every
    `--config` value Snakemake handed as text read as the type declared at its key path."""
    out = copy.deepcopy(config)
    for _, _, path in slots(_plain(overrides)):
        node = out
        for key in path[:-1]:
            node = node[key] if isinstance(node, (dict, list)) else None
        if isinstance(node, (dict, list)) and isinstance(node[path[-1]], str):
            node[path[-1]] = as_declared(node[path[-1]], schema_at(out, path))
    return out


def _plain(node):
    if isinstance(node, Mapping):
        return {k: _plain(v) for k, v in node.items()}
    return [_plain(v) for v in node] if isinstance(node, list) else node


def check_numbers(node, path=()) -> None:
    """Every key of the config text, every number finite and at most MAX_MAGNITUDE in size; else one
    line naming the key path."""
    where = ".".join(map(str, path)) or "config"
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where}: key {key!r} is not text; write it as a name")
            check_numbers(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_numbers(value, (*path, i))
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{where}: must be a finite number (got {node!r})")
    elif isinstance(node, (int, float)) and not isinstance(node, bool) and abs(node) > MAX_MAGNITUDE:
        raise ConfigError(f"{where}: {node!r} is out of range; a config's numbers are at most {MAX_MAGNITUDE} "
                          "(2**31 - 1) in size")
