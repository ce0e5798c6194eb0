"""Generate the per-kind JSON schema of every config entry from the registries' constructors.

`scorebench/schemas/components.schema.yaml` holds, per registry section (datasets, schedules,
samplers, objectives, conditioning masks and methods) and kind, the parameters its constructor
takes, their JSON types (from annotations, else the default's type) and the ranges the annotations
declare (`registry.Range`). The workflow's parse validates every entry against it without importing
torch, so an unknown key, a wrong type or a value out of range fails the dry run by key path; what
no single parameter says (sigma_min < sigma_max) is checked when the entry is built (onstart, every verb).
Regenerate after changing a constructor: `python -m scorebench.components_schema`;
tests/test_project.py fails while the file and the code differ.
"""
from __future__ import annotations

import copy
import inspect
import sys
import typing
from importlib import resources

import yaml

from . import catalog
from .registry import Range, annotations

FILE = "components.schema.yaml"
# config section -> (module, registry attribute, context parameters the builder supplies, not the config)
SECTIONS = {
    "datasets": ("scorebench.data", "DATASETS", {"name"}),
    "schedules": ("scorebench.sde", "PROCESSES", {"train"}),
    "samplers": ("scorebench.samplers", "SAMPLERS", set()),
    "objectives": ("scorebench.objectives", "OBJECTIVES", set()),
    "conditioning.masks": ("scorebench.conditioning", "MASKS", set()),
    "conditioning.methods": ("scorebench.conditioning", "METHODS", set()),
    "train.net": ("scorebench.nets", "NETS", {"shape", "members"}),
}
# settings section -> (module, dataclass): the train, evaluate and scaling sections (a dataset's train and
# evaluate overrides too)
SETTINGS = {"train": ("scorebench.train", "TrainConfig"), "evaluate": ("scorebench.evaluate", "EvaluateConfig"),
            "scaling": ("scorebench.scaling", "ScalingConfig")}
# a YAML 1.1 float without a dot (1e-5) reads as a string; the builder converts it (registry.build)
FLOAT_TEXT = {"type": "string", "pattern": "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"}
TYPES = {"int": {"type": "integer"}, "float": {"anyOf": [{"type": "number"}, FLOAT_TEXT]}, "bool": {"type": "boolean"},
         "str": {"type": "string"}, "list": {"type": "array"}, "tuple": {"type": "array"}, "dict": {"type": "object"},
         "None": {"type": "null"}}
# what the grid reads, not the class: objectives.<name>.max_dim where the objective's facts have one
EXTRA = {("objectives", kind): {"max_dim": {"type": "integer", "minimum": 1}}
         for kind in catalog.OBJECTIVES if catalog.OBJECTIVES.get(kind).max_dim is not None}


def _type(param: inspect.Parameter, note) -> dict:
    """The JSON schema of one constructor parameter: its annotation's types (and declared Range), else
    its default's type."""
    allowed = None
    if typing.get_origin(note) is typing.Annotated:
        note, *extras = typing.get_args(note)
        allowed = next((extra for extra in extras if isinstance(extra, Range)), None)
    if note is not None:
        names = [getattr(t, "__name__", str(t)) for t in (typing.get_args(note) or (note,))]
    else:
        names = [type(param.default).__name__] if param.default not in (None, inspect.Parameter.empty) else []
    names = ["None" if n == "NoneType" else n for n in names]
    options = [copy.deepcopy(TYPES[n]) for n in names if n in TYPES]  # copies: no YAML anchors in the file
    if allowed is not None:  # the range binds the numeric option (a float's YAML text is checked when built)
        for option in options:
            numeric = option if option.get("type") in ("integer", "number") else next(
                (o for o in option.get("anyOf", []) if o.get("type") == "number"), None)
            if numeric is not None:
                numeric.update(allowed.schema())
    return {} if not options or len(options) < len(names) else options[0] if len(options) == 1 else {"anyOf": options}


def _entry(factory, context=frozenset(), extra=None) -> dict:
    """The JSON schema of the keyword arguments `factory` takes (`context` ones are the builder's)."""
    notes = annotations(factory)
    params = {name: p for name, p in inspect.signature(factory).parameters.items()
              if name not in context and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    properties = {name: _type(p, notes.get(name)) for name, p in params.items()} | copy.deepcopy(extra or {})
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": sorted(n for n, p in params.items() if p.default is inspect.Parameter.empty)}


def generate() -> dict:
    """{section: {kind: JSON schema of its entry}} from the registered constructors, and under
    `settings` the schema of each settings section from its dataclass (imports torch)."""
    import importlib

    out: dict = {}
    for section, (module, attribute, context) in SECTIONS.items():
        registry = getattr(importlib.import_module(module), attribute)
        out[section] = {kind: _entry(registry.get(kind), context, EXTRA.get((section, kind))) for kind in registry.keys()}
    out["settings"] = {key: _entry(getattr(importlib.import_module(module), name))
                       for key, (module, name) in SETTINGS.items()}
    return out


def text() -> str:
    header = "# Generated by `python -m scorebench.components_schema` from the registries: do not edit.\n"
    return header + yaml.safe_dump(generate(), sort_keys=True)


def main() -> int:
    path = resources.files("scorebench").joinpath("schemas", FILE)
    with resources.as_file(path) as target:
        target.write_text(text())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
