"""Load and validate benchmark configs: JSON schema first, then registry names and values."""
from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_FILE = "config.schema.yaml"
COMPONENTS_FILE = "components.schema.yaml"  # generated: python -m scorebench.components_schema
GRID = ("datasets", "objectives", "schedules")  # all non-empty (a grid) or all empty (a scaling-only config)


PLACEMENT = ("slurm_partition", "slurm_account", "gpu_model")  # the SLURM plugin's resource names


def schema() -> dict:
    return yaml.safe_load(resources.files("scorebench").joinpath("schemas", SCHEMA_FILE).read_text())


PATTERN_RULES = {  # the schema's patterns, in words
    "^[A-Za-z0-9][A-Za-z0-9_]*(?![\\s\\S])": "a name is letters, digits and _, starting with a letter or digit",
    "^[A-Za-z0-9][A-Za-z0-9_.-]*(?![\\s\\S])": "the benchmark name is letters, digits, _, . and -, starting with a letter or digit (it becomes results/<name>/)",
    "^[A-Za-z0-9_.-]+(?![\\s\\S])": "one word of letters, digits, _, . and - (it goes onto an sbatch line)",
    "^(cpu|cuda(:[0-9]+)?)(?![\\s\\S])": "a device is cpu, cuda or cuda:<index>",
}


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(config: dict) -> dict:
    """Check `config` against the schema and fill the defaults; one line per problem found first."""
    if not isinstance(config, dict):
        raise ConfigError("config: expected a mapping of keys (name, datasets, objectives, ...)")
    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = errors[0]
        if err.validator == "additionalProperties":
            known = err.schema.get("properties", {})
            unknown = sorted(set(err.instance) - set(known))
            where = ".".join(str(p) for p in [*err.absolute_path, unknown[0]])
            raise ConfigError(f"{where}: unknown key; allowed: {', '.join(sorted(known))}")
        if err.validator == "pattern":  # the regex says little: name what is allowed instead
            raise ConfigError(f"{_where(err)}: {err.instance!r} is not allowed; {PATTERN_RULES[err.validator_value]}")
        raise ConfigError(f"{_where(err)}: {err.message}")
    grid = [key for key in GRID if config.get(key)]
    if grid and len(grid) < len(GRID):
        missing = ", ".join(key for key in GRID if not config.get(key))
        raise ConfigError(f"{missing}: required with {', '.join(grid)} (a grid needs datasets, objectives and schedules)")
    if not grid and "scaling" not in config:
        raise ConfigError("config: nothing to run; give a grid (datasets, objectives, schedules) or a scaling section")
    for key, prop in schema()["properties"].items():
        if "default" in prop:
            config.setdefault(key, prop["default"])
    check_components(config)
    return config


@lru_cache(maxsize=1)
def components() -> dict:
    """The generated per-kind schema of every entry (scorebench.components_schema)."""
    return yaml.safe_load(resources.files("scorebench").joinpath("schemas", COMPONENTS_FILE).read_text())


def check_components(config: dict) -> None:
    """Every entry's keys and value types against its kind's constructor (the generated schema),
    torch-free: an unknown or misspelt key or a wrong type is one line naming its path. An unknown
    kind is left to the registries' check, which lists the valid ones."""
    cond = config.get("conditioning", {})
    entries = [(f"{key}.{name}", key, spec) for key in ("datasets", "schedules", "samplers")
               for name, spec in config.get(key, {}).items()]
    entries += [(f"conditioning.{key}.{name}", f"conditioning.{key}", spec) for key in ("masks", "methods")
                for name, spec in cond.get(key, {}).items()]
    entries += [(f"objectives.{name}", "objectives", {"kind": name, **params})
                for name, params in objective_entries(config).items() if name != "oracle" or params]
    for where, section, spec in entries:
        if section == "objectives" and spec["kind"] == "oracle":  # no constructor: the exact score takes none
            raise ConfigError(f"{where}: takes no parameters (got {', '.join(k for k in spec if k != 'kind')})")
        kind_schema = components()[section].get(spec["kind"])
        if kind_schema is None:
            continue
        params = {k: v for k, v in spec.items() if k != "kind" and not (section == "datasets" and k in OVERRIDABLE)}
        errors = sorted(jsonschema.Draft7Validator(kind_schema).iter_errors(params), key=lambda e: len(e.absolute_path))
        if not errors:
            continue
        err = errors[0]
        if err.validator == "additionalProperties":
            unknown = sorted(set(err.instance) - set(kind_schema["properties"]))[0]
            raise ConfigError(f"{where}.{unknown}: unknown key for {section.split('.')[-1].rstrip('s')} kind "
                              f"{spec['kind']!r}; allowed: {', '.join(sorted(kind_schema['properties'])) or 'none'}")
        key = ".".join(str(p) for p in err.absolute_path)
        message = "a number" if err.validator == "anyOf" else err.message
        raise ConfigError(f"{where}{'.' + key if key else ''}: must be {message}" if err.validator == "anyOf"
                          else f"{where}{'.' + key if key else ''}: {message}")


def has_grid(config: dict) -> bool:
    """Whether a validated config trains a grid (a scaling-only config has none)."""
    return bool(config["datasets"])


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        twice = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if twice is not None:
            raise yaml.constructor.ConstructorError(None, None, f"key {twice!r} given twice", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def read(path: str | Path) -> dict:
    """The YAML mapping in `path` (keys given twice refused), not yet validated."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(), Loader=_StrictLoader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())[:200]})") from None


def load(path: str | Path) -> dict:
    """Read and validate a YAML benchmark config."""
    return validate(read(path))


def objective_entries(config: dict) -> dict[str, dict]:
    """`objectives:` as name -> params (a bare name has no parameters)."""
    out: dict[str, dict] = {}
    for item in config["objectives"]:
        name, params = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        if name in out:
            raise ConfigError(f"objectives: {name!r} listed twice")
        out[name] = dict(params)
    return out


OVERRIDABLE = ("train", "evaluate")  # sections a dataset entry may override for its own runs


def section(config: dict, name: str, dataset: str) -> dict:
    """The `train:` or `evaluate:` settings for runs on `dataset`: the top-level section updated
    with the dataset entry's own (e.g. a different network or step count for images)."""
    return {**config[name], **config["datasets"][dataset].get(name, {})}


def resource(config: dict, stage: str, key: str, default=None):
    """A job resource of `stage`: resources.<stage>.<key>, else the config-wide resources.<key>, else `default`."""
    res = config.get("resources", {})
    return res.get(stage, {}).get(key, res.get(key, default))


def placement(config: dict, stage: str) -> dict:
    """Where `stage`'s jobs go on SLURM, as far as the config says: slurm_partition, slurm_account, gpu_model."""
    return {k: v for k in PLACEMENT if (v := resource(config, stage, k)) is not None}


def dataset_params(config: dict, dataset: str) -> dict:
    """The dataset entry without its section overrides: what the dataset builder takes."""
    return {k: v for k, v in config["datasets"][dataset].items() if k not in OVERRIDABLE}


def settings(cls, values: dict | None, section: str):
    """The dataclass `cls` built from a config section, refusing an unknown key by name."""
    known = {f.name for f in fields(cls)}
    for key in values or {}:
        if key not in known:
            raise ConfigError(f"{section}.{key}: unknown key; allowed: {', '.join(sorted(known))}")
    return cls(**(values or {}))


def require_positive_ints(cfg, section: str, keys: tuple[str, ...]) -> None:
    """Each of `keys` on `cfg` is an integer >= 1, else one line naming `section.key`."""
    for key in keys:
        if not isinstance(getattr(cfg, key), int) or getattr(cfg, key) < 1:
            raise ConfigError(f"{section}.{key}: must be an integer >= 1 (got {getattr(cfg, key)!r})")
