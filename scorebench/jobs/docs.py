"""Write the config reference of docs/configuration.md from the schemas, so the docs cannot drift from code.

The reference is generated, between two marker lines of docs/configuration.md, from
`scorebench/spec/schemas/config.schema.yaml` (the hand-written shape of a config, with its descriptions)
and the generated `components.schema.yaml` (every kind's parameters: type, default, range), the kinds'
one-line summaries being the first line of each registered class's docstring, read from the source
text (never imported: this module imports the spec layer and the standard library only, so it runs
without torch). Parameters have no docstrings of their own; their one line is `PARAMETERS` below, and
tests/test_docs.py fails while a parameter of the schema has none.

    python -m scorebench.jobs.docs            # rewrite docs/configuration.md's reference section
    python -m scorebench.jobs.docs --check    # exit 1 when the committed file differs
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import re
import sys
from pathlib import Path

from ..spec import catalog, settings
from ..spec.packaged import components, schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scorebench"
TARGET = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m scorebench.jobs.docs; do not edit by hand -->"
END = "<!-- END GENERATED REFERENCE -->"
# components.schema.yaml section -> the source file whose registered classes' docstrings say what a kind is
# (the same modules as jobs.generate.SECTIONS; tests/test_docs.py keeps the two equal)
SOURCES = {
    "datasets": "core/data.py",
    "schedules": "core/sde.py",
    "samplers": "core/samplers.py",
    "objectives": "core/objectives.py",
    "conditioning.masks": "core/conditioning.py",
    "conditioning.methods": "core/conditioning.py",
    "train.net": "core/nets.py",
    "evaluate.features": "core/fidelity.py",
}
ORDER = ("datasets", "objectives", "schedules", "samplers", "train.net", "evaluate.features",
         "conditioning.masks", "conditioning.methods")
SETTINGS = ("train", "evaluate", "scaling")
# a parameter's one line, by name; "<section>.<name>" (or "<section>.<kind>.<name>") where one name
# means different things in different places
PARAMETERS = {
    "atol": "absolute tolerance of the adaptive solver",
    "baseline_draws": "real-vs-real draws of synthetic data (the FID/KID floor's spread)",
    "batch_size": "rows per training step",
    "beta_max": "β(1), the noise rate at t = 1",
    "beta_min": "β(0), the noise rate at t = 0",
    "block_seconds": "a timing runs whole steps for at least this long (0: one step)",
    "channels": "channels per U-Net level (sizes halve per level)",
    "checkpoint_every": "steps between checkpoints (a killed run resumes from the last)",
    "chunk_size": "basis vectors per batched backward pass of the Jacobian trace (raise it on a GPU)",
    "components_per_moon": "Gaussians along each half circle",
    "corrector_steps": "Langevin corrector steps per predictor step",
    "curve_points": "log-spaced steps at which the truth probe is recorded (curve.csv)",
    "denoise": "end with one Tweedie denoising step",
    "depth": "hidden layers",
    "device": "cpu, cuda or cuda:<i>; cuda makes the workflow ask for a GPU",
    "dim": "data dimension",
    "dims": "data dimensions timed",
    "distribution": "law of the projection vectors",
    "discretisation": "time: a uniform grid in t; sigma: Karras et al.'s σ/α levels (ρ = 7), data-prediction steps",
    "divergence": "PF-ODE divergence: exact up to exact_divergence_max_dim, Hutchinson above (auto)",
    "ema": "EMA decay of the weights that are evaluated",
    "emb": "width of the noise-level embedding",
    "eps": "smallest time t (training and sampling stop there)",
    "epsilon": "step size ε: the step at level i is ε σ_i²/σ_L²",
    "exact_divergence_max_dim": "largest d for the exact divergence under divergence: auto",
    "features": "FID/KID feature space: auto, a kind, or {kind: ..., its keys}",
    "fisher_points": "perturbed points of the Fisher divergence",
    "fit_from_dim": "log-log slopes are fitted over d ≥ this",
    "grad_clip": "largest gradient norm a step applies",
    "kid_subset_size": "rows per KID subset",
    "kid_subsets": "KID subsets averaged",
    "lattice": "Gaussians per side of a square's grid",
    "levels": "noise levels",
    "log_every": "steps between rows of train.csv",
    "lr": "Adam learning rate",
    "max_dim": "largest data dimension trained (grid rule; above it the run is skipped with the reason)",
    "max_seconds": "a cell whose warm-up step takes longer is recorded as skipped",
    "means": "explicit component means: k rows of d numbers",
    "method": "torchdiffeq solver",
    "n_components": "mixture components",
    "n_modes": "Gaussians on the circle",
    "n_projections": "projections per sample",
    "n_samples": "samples drawn per (run, sampler)",
    "n_test": "held-out points",
    "n_train": "training points (null: the whole training split)",
    "net": "score network {kind: mlp|unet, ...} (train.net below)",
    "nll_points": "test points of the PF-ODE likelihood",
    "noise": "blur of each point, relative to scale",
    "objectives": "objective variants timed (exact_loop: one backward pass per dimension)",
    "observed": "0-based indices of the observed coordinates",
    "path": "the array file: .npy (no pickles) or .csv, one sample a row; relative paths under data/",
    "quantisation": "integer values in [0, quantisation), dequantised like images (null: continuous values)",
    "radius": "radius of the circle",
    "reference_samples": "training rows in the FID/KID reference statistics",
    "repeats": "interleaved timing rounds (the median is kept)",
    "rho": "ρ: σ(t)^{1/ρ} is linear in t (Karras et al.'s 7)",
    "root": "local directory holding the data (never downloaded)",
    "rtol": "relative tolerance of the adaptive solver",
    "scale": "overall size of the curve",
    "seed": "seed of the data draw",
    "shape": "shape of one sample: [d] for vectors, [C, H, W] for images",
    "side": "side length of a square",
    "conditioning.masks.side": "the half that is observed",
    "sigma": "the one noise level whose score drives the chain",
    "sigma_max": "largest noise level σ₁; auto: the largest pairwise distance of the training data",
    "sigma_min": "smallest noise level σ_L",
    "snr": "target signal-to-noise ratio of the corrector",
    "spread": "std of the random means (when means is not given)",
    "squares": "squares per side of the board",
    "std": "std of every component",
    "stds": "explicit component stds: k numbers > 0 or k rows of d",
    "step_size": "Langevin step size",
    "steps": "steps",
    "train.steps": "training steps",
    "samplers.ode.steps": "grid times of a fixed-grid method (euler, midpoint, rk4, …); adaptive methods ignore it",
    "budget_seconds": "equal compute: training seconds per run, stopping before the step that would pass them (steps stays the cap; null: no budget)",
    "steps_per_level": "Langevin steps per noise level",
    "sw_projections": "random directions of the sliced Wasserstein distance",
    "test_fraction": "share of the samples held out as the test split (drawn with seed)",
    "vectorized": "true: batched Jacobian trace; false: one backward pass per dimension; auto: the loop at d = 1 only",
    "warmup": "untimed steps before the rounds",
    "weights": "explicit component weights: k numbers ≥ 0 summing to 1",
    "weights_path": "Inception-v3 weights file (default: torch hub's cache; nothing is downloaded)",
    "width": "hidden width",
}


def _facts(section: str):
    """The catalog's kinds and facts of a schema section (None for one without facts: nets, features)."""
    return {"datasets": catalog.DATASETS, "objectives": catalog.OBJECTIVES, "schedules": catalog.SCHEDULES,
            "samplers": catalog.SAMPLERS, "conditioning.masks": catalog.MASKS,
            "conditioning.methods": catalog.METHODS}.get(section)


def describe(section: str, kind: str | None, name: str) -> str:
    """The one line of a parameter: the most specific entry of PARAMETERS; '' when none."""
    for key in ([f"{section}.{kind}.{name}"] if kind else []) + [f"{section}.{name}", name]:
        if key in PARAMETERS:
            return PARAMETERS[key]
    return ""


def summaries(source: str) -> dict[str, str]:
    """kind -> first line of the docstring of the class or function registered under it in `source`."""
    tree = ast.parse((PACKAGE / source).read_text())
    out = {}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            continue
        for deco in node.decorator_list:
            if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == "register"
                    and deco.args and isinstance(deco.args[0], ast.Constant)):
                doc = (ast.get_docstring(node) or "").split("\n\n")[0].replace("\n", " ").strip()
                out[deco.args[0].value] = re.split(r"(?<=[.;])\s(?=[A-Z])", doc, maxsplit=1)[0].rstrip(";.") + "."
    return out


def _value(v) -> str:
    return json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v


def _type(spec: dict, definitions: dict) -> str:
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return {"slurm_word": "string (one word)", "device": "string (device)",
                "resources": "mapping (resources)"}.get(name, name)
    if "allOf" in spec:
        return "mapping name → {kind: ..., params}"
    if "anyOf" in spec or "oneOf" in spec:
        return " or ".join(_type(s, definitions) for s in spec.get("anyOf", spec.get("oneOf")))
    kind = spec.get("type")
    if kind is None:
        return "any"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and "items" in spec:
        return f"list of {_type(spec['items'], definitions)}"
    return {"object": "mapping", "null": "null", "number": "number"}.get(kind, kind)


def _range(spec: dict) -> str:
    parts = []
    for key, text in (("minimum", "≥ {}"), ("exclusiveMinimum", "> {}"), ("maximum", "≤ {}"),
                      ("exclusiveMaximum", "< {}"), ("minItems", "≥ {} items"), ("maxItems", "≤ {} items"),
                      ("minProperties", "≥ {} entries"), ("maxLength", "≤ {} characters")):
        if key in spec:
            parts.append(text.format(_value(spec[key])))
    if "enum" in spec:
        parts.append("one of " + ", ".join(f"`{v}`" for v in spec["enum"]))
    if spec.get("uniqueItems"):
        parts.append("no repeats")
    if "pattern" in spec:
        parts.append("letters, digits, `_` (name rules in the text above)")
    for sub in spec.get("anyOf", []):
        inner = _range(sub)
        if inner:
            parts.append(inner)
    if "items" in spec and isinstance(spec["items"], dict):
        inner = _range(spec["items"])
        if inner:
            parts.append(f"each {inner}")
    if "$ref" in spec and spec["$ref"].endswith("slurm_word"):
        parts.append("one word, ≤ 64 characters")
    if "$ref" in spec and spec["$ref"].endswith("device"):
        parts.append("`cpu`, `cuda` or `cuda:<i>`")
    return "; ".join(parts)


def _default(spec: dict) -> str:
    return f"`{_value(spec['default'])}`" if "default" in spec else "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple[str, str, str, str, str]]) -> list[str]:
    out = ["| key | type | default | range | description |", "| --- | --- | --- | --- | --- |"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _config_rows(properties: dict, definitions: dict, prefix: str = "") -> list[tuple]:
    rows = []
    for key, spec in properties.items():
        if key == "<<":
            continue
        if "$ref" in spec and spec["$ref"].endswith("/resources"):
            rows.append((f"`{prefix}{key}`", "mapping (resources)", "—", "the keys above",
                         f"resources of the {key} stage, overriding the keys given at `resources:` level"))
            continue
        rows.append((f"`{prefix}{key}`", _type(spec, definitions), _default(spec), _range(spec),
                     spec.get("description", "")))
    return rows


def reference() -> str:
    """The generated reference section (Markdown, between BEGIN and END)."""
    top, parts = schema(), components()
    definitions = top.get("definitions", {})
    lines = [BEGIN, "", "## Reference (generated)", "",
             "Generated by `python -m scorebench.jobs.docs` from `scorebench/spec/schemas/config.schema.yaml` "
             "and the generated `components.schema.yaml`; `tests/test_docs.py` fails while this section and "
             "the schemas differ. Kinds are the registries' keys; every entry of a section is "
             "`name: {kind: <kind>, <its parameters>}`.", "",
             "### Top-level keys", "", top.get("description", "").strip(), ""]
    lines += _table(_config_rows(top["properties"], definitions))
    resources = definitions["resources"]["properties"]
    lines += ["", "### `resources:` (at the top, and per stage)", ""]
    lines += _table(_config_rows(resources, definitions, "resources.") +
                    _config_rows({k: v for k, v in top["properties"]["resources"]["properties"].items()
                                  if k not in resources}, definitions, "resources."))
    entry = definitions["named_entries"]["additionalProperties"]["properties"]
    lines += ["", "### Keys of every named entry (datasets, schedules, samplers, masks, methods)", ""]
    lines += _table(_config_rows(entry, definitions, "<entry>."))
    lines += ["", "### `conditioning:`", ""]
    lines += _table(_config_rows(top["properties"]["conditioning"]["properties"], definitions, "conditioning."))
    for name in SETTINGS:
        spec = parts["settings"][name]
        lines += ["", f"### `{name}:`", "",
                  ("Also allowed inside a dataset's entry, overriding these for its runs. " if name in ("train", "evaluate")
                   else "") + f"Fields of `scorebench.spec.settings.{name.capitalize()}Config`.", ""]
        factories = {f.name: f.default_factory() for f in dataclasses.fields(getattr(settings, f"{name.capitalize()}Config"))
                     if f.default_factory is not dataclasses.MISSING}
        lines += _table([(f"`{name}.{key}`", _type(p, {}), _default({"default": factories[key], **p} if key in factories else p),
                          _range(p), describe(name, None, key)) for key, p in sorted(spec["properties"].items())])
    for section in ORDER:
        kinds = parts[section]
        docs = summaries(SOURCES[section])
        lines += ["", f"### `{section}` kinds", ""]
        facts = _facts(section)
        bare = sorted(set(facts or ()) - set(kinds))
        if bare:
            lines += ["Registered without parameters (no entry in the parameter schema): "
                      + ", ".join(f"`{k}`" for k in bare) + ".", ""]
        for kind in sorted(kinds):
            spec = kinds[kind]
            lines += [f"#### `{section}` · `{kind}`", ""]
            if docs.get(kind):
                lines += [docs[kind], ""]
            params = spec.get("properties", {})
            if not params:
                lines += ["No parameters.", ""]
                continue
            required = set(spec.get("required", []))
            lines += _table([(f"`{key}`" + (" (required)" if key in required else ""), _type(p, {}), _default(p),
                              _range(p), describe(section, kind, key)) for key, p in sorted(params.items())])
            lines.append("")
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines + ["", END]) + "\n"


LIST_SECTIONS = {"datasets": "datasets", "objectives": "objectives", "schedules": "schedules", "samplers": "samplers",
                 "nets": "train.net", "features": "evaluate.features", "masks": "conditioning.masks",
                 "methods": "conditioning.methods"}  # `scorebench list` section -> the schema's


def listing(section: str | None = None) -> str:
    """What `scorebench list [section]` prints: every registered kind with its one line, its facts and
    its parameters (type, default, range, what it is), and every metric with its unit and direction."""
    names = [section] if section else [*LIST_SECTIONS, "metrics"]
    lines: list[str] = []
    for name in names:
        lines.append(f"{name}:")
        if name == "metrics":
            from ..spec.metric_info import METRIC_INFO

            for metric, info in METRIC_INFO.items():
                flags = [f"level {info.level}", info.unit, "lower is better" if info.lower_is_better else "higher is better"]
                flags += (["log scale"] if info.log_scale else []) + ([f"needs {info.needs}"] if info.needs else [])
                flags += (["headline"] if info.headline else []) + (["sample quality"] if info.quality else [])
                lines.append(f"  {metric}  ({', '.join(flags)})")
            continue
        kinds, docs = components()[LIST_SECTIONS[name]], summaries(SOURCES[LIST_SECTIONS[name]])
        facts = _facts(LIST_SECTIONS[name])
        for kind in sorted(kinds):
            lines.append(f"  {kind} - {docs.get(kind, '')}".rstrip(" -"))
            if facts is not None:
                stated = {k: v for k, v in dataclasses.asdict(facts.get(kind)).items() if v not in (None, False)}
                lines.append("      facts: " + (", ".join(f"{k}={v}" for k, v in stated.items()) or "none"))
            for key, spec in sorted(kinds[kind].get("properties", {}).items()):
                extra = "; ".join(x for x in (_range(spec), describe(LIST_SECTIONS[name], kind, key)) if x)
                lines.append(f"      {key}: {_type(spec, {})} = {_default(spec).strip('`')}" + (f"  ({extra})" if extra else ""))
    return "\n".join(lines)


def render(text: str) -> str:
    """`text` (docs/configuration.md) with its reference section replaced by the generated one."""
    if BEGIN not in text or END not in text:
        return text.rstrip("\n") + "\n\n" + reference()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return head + reference().rstrip("\n") + tail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scorebench.jobs.docs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/configuration.md is out of date")
    parser.add_argument("--path", type=Path, default=TARGET, help="the file to write (default: docs/configuration.md)")
    args = parser.parse_args(argv)
    old = args.path.read_text() if args.path.exists() else "# Configuration\n"
    new = render(old)
    if args.check:
        if new != old:
            print(f"{args.path}: the config reference is out of date; run python -m scorebench.jobs.docs",
                  file=sys.stderr)
            return 1
        return 0
    args.path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
