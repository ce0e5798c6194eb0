"""Project files agree with each other: environment.yml and pyproject.toml pin the same packages."""
import tomllib

import yaml

from conftest import ROOT


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert set(pip) - {"-e ."} == wanted
    assert "torch==2.14.1" in wanted and "torchvision==0.29.1" in wanted


def test_the_generated_files_are_the_codes():
    """catalog.yaml (each component's facts) and components.schema.yaml (its parameters), what the
    workflow's torch-free parse reads, are what the registered classes say; regenerate with
    `python -m scorebench.jobs.generate`."""
    from importlib import resources

    from scorebench.jobs.generate import texts

    for name, text in texts().items():
        assert resources.files("scorebench.spec").joinpath("schemas", name).read_text() == text, name


def test_the_catalog_facts_match_what_the_components_do():
    """A dataset's declared synthetic/dim/image are those of the built dataset; a half mask makes image
    masks; the gaussian mixture's dim follows its `dim` or its `means`."""
    import torch

    from scorebench.core.conditioning import build_mask
    from scorebench.core.data import build_dataset
    from scorebench.spec import catalog

    assert len(build_mask("m", {"kind": "half"})((1, 8, 8)).shape) == 3 and catalog.MASKS.get("half").image
    for kind in ("ncsn_toy", "ring", "moons", "swiss_roll", "checkerboard", "digits"):
        data = build_dataset(kind, {"kind": kind})
        assert catalog.dataset_info({"kind": kind}) == (data.mixture is not None, data.dim), kind
        assert catalog.is_image({"kind": kind}) == data.is_image, kind
    for spec in ({"kind": "gaussian_mixture", "dim": 5}, {"kind": "gaussian_mixture"},
                 {"kind": "gaussian_mixture", "means": [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], "stds": [1.0, 1.0]}):
        data = build_dataset("g", spec)
        assert catalog.dataset_info(spec) == (True, data.dim) and isinstance(data.train, torch.Tensor), spec


def test_every_schema_pattern_is_explained_in_words():
    """A pattern failure names what is allowed (config.PATTERN_RULES), not the regex."""
    from scorebench.spec import config as cfgmod

    def patterns(node):
        if isinstance(node, dict):
            yield from ([node["pattern"]] if isinstance(node.get("pattern"), str) else [])
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for value in node:
                yield from patterns(value)

    found = set(patterns(cfgmod.schema()))
    assert found and found <= set(cfgmod.PATTERN_RULES), found - set(cfgmod.PATTERN_RULES)




def test_a_new_component_is_one_class(monkeypatch, tmp_path, write_config, capsys):
    """A sampler registered from this module (one class, its facts as attributes) is in the generated
    catalog and schema, and `scorebench grid` expands it (on a discrete schedule: skipped, by its fact)."""
    from scorebench import cli
    from scorebench.core import samplers
    from scorebench.jobs.generate import texts
    from scorebench.spec import catalog, packaged
    from scorebench.spec.registry import COUNT

    monkeypatch.setattr(samplers.SAMPLERS, "_entries", dict(samplers.SAMPLERS._entries))  # unregistered after

    @samplers.SAMPLERS.register("throwaway")
    class Throwaway(samplers.Sampler):
        """Returns its prior draws: a sampler that exists for this test."""

        continuous = True

        def __init__(self, steps: COUNT = 7):
            self.steps = steps

        def run(self, score, process, x, generator, check):
            return x

    generated = texts()
    for name, text in generated.items():
        (tmp_path / name).write_text(text)
    assert yaml.safe_load(generated["catalog.yaml"])["samplers"]["throwaway"] == {"continuous": True, "stepped": True, "sweeps": "steps"}
    assert yaml.safe_load(generated["components.schema.yaml"])["samplers"]["throwaway"]["properties"]["steps"] == {
        "type": "integer", "minimum": 1, "default": 7}
    (tmp_path / "config.schema.yaml").write_text(packaged.SCHEMAS.joinpath("config.schema.yaml").read_text())
    monkeypatch.setattr(packaged, "SCHEMAS", tmp_path)
    for cached in (packaged.schema, packaged.components, packaged.catalog, catalog._loaded):
        cached.cache_clear()
    try:
        config = write_config({"name": "t", "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["oracle"],
                               "schedules": {"ve": {"kind": "ve"}, "ncsn": {"kind": "ncsn"}},
                               "samplers": {"mine": {"kind": "throwaway", "steps": 3}}})
        assert cli.main(["grid", str(config)]) == 0
        out = capsys.readouterr().out
        assert "mine" in out and "integrates an ODE over continuous t; schedule ncsn (ncsn) is discrete" in out, out
        bad = write_config({"name": "t", "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["oracle"],
                            "schedules": {"ve": {"kind": "ve"}}, "samplers": {"mine": {"kind": "throwaway", "steps": 0}}},
                           "bad.yaml")
        assert cli.main(["grid", str(bad)]) != 0
        assert "samplers.mine.steps" in capsys.readouterr().err
    finally:
        for cached in (packaged.schema, packaged.components, packaged.catalog, catalog._loaded):
            cached.cache_clear()
