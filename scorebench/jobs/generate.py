"""Generate the files the torch-free parse reads from the registered components: each kind's parameter schema and its facts.

`scorebench/schemas/components.schema.yaml` holds, per registry section (datasets, schedules,
samplers, objectives, conditioning masks and methods) and kind, the parameters its constructor
takes, their JSON types (from annotations, else the default's type) and the ranges the annotations
declare (`registry.Range`, `OneOf`, `Length`), and their defaults. The workflow's parse validates every
entry against it without importing torch, so an unknown key, a wrong type, a value out of range or not
among the declared ones fails the dry run by key path; what no single parameter says (sigma_min <
sigma_max) is checked by `scorebench.spec.rules`, in the same parse.
Regenerate after changing a constructor: `python -m scorebench.jobs.generate`;
tests/jobs/test_generate.py fails while the file and the code differ.
"""
from __future__ import annotations

import copy
import inspect
import sys
import types
import typing
from importlib import resources

import yaml

from dataclasses import fields

from ..spec.facts import DatasetFacts, MaskFacts, MethodFacts, ObjectiveFacts, SamplerFacts, ScheduleFacts
from ..spec.packaged import CATALOG_FILE, COMPONENTS_FILE
from ..spec.registry import Length, OneOf, Range, annotations

# config section -> (module, registry attribute, context parameters the builder supplies, not the config)
SECTIONS = {
    "datasets": ("scorebench.core.data", "DATASETS", {"name"}),
    "schedules": ("scorebench.core.sde", "PROCESSES", {"train"}),
    "samplers": ("scorebench.core.samplers", "SAMPLERS", set()),
    "objectives": ("scorebench.core.objectives", "OBJECTIVES", set()),
    "conditioning.masks": ("scorebench.core.conditioning", "MASKS", set()),
    "conditioning.methods": ("scorebench.core.conditioning", "METHODS", set()),
    "train.net": ("scorebench.core.nets", "NETS", {"shape", "members"}),
    "evaluate.features": ("scorebench.core.fidelity", "FEATURES", {"device", "path"}),
}
# settings section -> (module, dataclass): the train, evaluate and scaling sections (a dataset's train and
# evaluate overrides too)
SETTINGS = {"train": ("scorebench.spec.settings", "TrainConfig"), "evaluate": ("scorebench.spec.settings", "EvaluateConfig"),
            "scaling": ("scorebench.spec.settings", "ScalingConfig")}
TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}, "bool": {"type": "boolean"}, "str": {"type": "string"},
         "list": {"type": "array"}, "tuple": {"type": "array"}, "dict": {"type": "object"}, "NoneType": {"type": "null"}}
# catalog section -> (config section whose registry it lists, the facts its kinds declare)
FACTS = {"datasets": ("datasets", DatasetFacts), "schedules": ("schedules", ScheduleFacts),
         "samplers": ("samplers", SamplerFacts), "objectives": ("objectives", ObjectiveFacts),
         "masks": ("conditioning.masks", MaskFacts), "methods": ("conditioning.methods", MethodFacts)}
MAX_DIM = {"max_dim": {"type": "integer", "minimum": 1}}  # read by the grid, not the class, where a kind has one


def _of(note) -> dict | None:
    """The JSON schema of an annotation: its types (a union's options, a list's items) with the Range,
    OneOf and Length it declares; None for a type the schema cannot state."""
    extras = ()
    if typing.get_origin(note) is typing.Annotated:
        note, *extras = typing.get_args(note)
    if typing.get_origin(note) in (typing.Union, types.UnionType):
        options = [_of(arg) for arg in typing.get_args(note)]
        out = None if None in options else {"anyOf": options}
    elif typing.get_origin(note) in (list, tuple):
        items = [_of(arg) for arg in typing.get_args(note)[:1]]
        out = None if None in items else {"type": "array", **({"items": items[0]} if items else {})}
    else:
        out = copy.deepcopy(TYPES.get(getattr(note, "__name__", "")))  # copies: no YAML anchors in the file
    for extra in extras if out is not None else ():
        out.update(extra.schema() if isinstance(extra, Range) else {"enum": list(extra.values)}
                   if isinstance(extra, OneOf) else {"minItems": extra.low} if isinstance(extra, Length) else {})
    return out


def _type(param: inspect.Parameter, note) -> dict:
    """The JSON schema of one constructor parameter: its annotation's, else its default's type; with its
    default where that is one value (the parse's cross-field rules read it)."""
    if note is None and param.default not in (None, inspect.Parameter.empty):
        note = type(param.default)
    out = (_of(note) if note is not None else None) or {}
    if param.default is None or isinstance(param.default, (bool, int, float, str)):
        out["default"] = param.default
    return out


def _entry(factory, context=frozenset(), extra=None) -> dict:
    """The JSON schema of the keyword arguments `factory` takes (`context` ones are the builder's)."""
    notes = annotations(factory)
    params = {name: p for name, p in inspect.signature(factory).parameters.items()
              if name not in context and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    properties = {name: _type(p, notes.get(name)) for name, p in params.items()} | copy.deepcopy(extra or {})
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": sorted(n for n, p in params.items() if p.default is inspect.Parameter.empty)}


def _registry(section: str):
    import importlib

    module, attribute, _ = SECTIONS[section]
    return getattr(importlib.import_module(module), attribute)


def generate() -> dict:
    """{section: {kind: JSON schema of its entry}} from the registered constructors, and under
    `settings` the schema of each settings section from its dataclass (imports torch)."""
    import importlib

    out: dict = {}
    for section, (_, _, context) in SECTIONS.items():
        registry = _registry(section)
        out[section] = {kind: _entry(registry.get(kind), context,
                                     MAX_DIM if section == "objectives" and registry.get(kind).max_dim else None)
                        for kind in registry.keys()}
    out["settings"] = {key: _entry(getattr(importlib.import_module(module), name))
                       for key, (module, name) in SETTINGS.items()}
    return out


def catalog() -> dict:
    """{section: {kind: facts}} as each registered component declares them, the feature and network
    kinds, and the constants the parse shares with the maths (imports torch)."""
    from ..core.mixture import WEIGHT_TOLERANCE
    from ..core.samplers import ODE_METHODS, adaptive

    out: dict = {name: {kind: {f.name: getattr(_registry(section).get(kind), f.name, f.default) for f in fields(facts)}
                        for kind in _registry(section).keys()}
                 for name, (section, facts) in FACTS.items()}
    out["features"] = _registry("evaluate.features").keys()
    out["nets"] = _registry("train.net").keys()
    out["constants"] = {"weight_tolerance": WEIGHT_TOLERANCE,
                        "fixed_grid_methods": [m for m in ODE_METHODS if not adaptive(m)]}  # ode methods that step
    return out


HEADER = "# Generated by `python -m scorebench.jobs.generate` from the registered components: do not edit.\n"


def texts() -> dict[str, str]:
    """The generated files' texts: file name -> YAML."""
    return {COMPONENTS_FILE: HEADER + yaml.safe_dump(generate(), sort_keys=True),
            CATALOG_FILE: HEADER + yaml.safe_dump(catalog(), sort_keys=True)}


def main() -> int:
    for name, text in texts().items():
        path = resources.files("scorebench.spec").joinpath("schemas", name)
        with resources.as_file(path) as target:
            target.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
