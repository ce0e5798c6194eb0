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


def test_the_catalog_states_what_the_registries_hold():
    """The torch-free catalog (what the workflow's parse reads) names every registered dataset,
    schedule, sampler and objective with the facts their classes carry; and the parse of the grid
    imports no torch (checked in a fresh interpreter)."""
    import subprocess
    import sys

    import torch

    from scorebench.spec import catalog
    from scorebench.core.data import DATASETS, build_dataset
    from scorebench.core.objectives import OBJECTIVES
    from scorebench.core.samplers import SAMPLERS
    from scorebench.core.sde import PROCESSES

    assert catalog.DATASETS.keys() == DATASETS.keys() and [k for k in catalog.OBJECTIVES if k != "oracle"] == OBJECTIVES.keys()
    assert {k: catalog.SCHEDULES.get(k) for k in catalog.SCHEDULES} == {k: PROCESSES.get(k).discrete for k in PROCESSES}
    assert {k: catalog.SAMPLERS.get(k).continuous for k in catalog.SAMPLERS} == {
        k: SAMPLERS.get(k).requires_continuous for k in SAMPLERS}
    from scorebench.core.conditioning import MASKS, METHODS, build_mask

    assert [k for k in SAMPLERS if not SAMPLERS.get(k).projects] == [k for k in catalog.SAMPLERS if not catalog.SAMPLERS.get(k).stepped]
    assert catalog.MASKS.keys() == MASKS.keys()
    assert {k: catalog.METHODS.get(k) for k in catalog.METHODS} == {
        k: catalog.MethodFacts(METHODS.get(k).needs_exact, METHODS.get(k).needs_steps) for k in METHODS}
    assert len(build_mask("m", {"kind": "half"})((1, 8, 8)).shape) == 3 and catalog.MASKS.get("half")  # for images
    for kind in ("ncsn_toy", "ring", "moons", "swiss_roll", "checkerboard", "digits"):
        data = build_dataset(kind, {"kind": kind})
        assert catalog.dataset_info({"kind": kind}) == (data.mixture is not None, data.dim), kind
        assert catalog.is_image({"kind": kind}) == data.is_image, kind
    data = build_dataset("g", {"kind": "gaussian_mixture", "dim": 5})
    assert catalog.dataset_info({"kind": "gaussian_mixture", "dim": 5}) == (True, data.dim) and isinstance(data.train, torch.Tensor)
    probe = ("import sys; from scorebench.spec import grid, layout, config, catalog; "
             "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"


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


def test_the_generated_component_schema_is_the_codes():
    """scorebench/schemas/components.schema.yaml (what the workflow's parse checks entries against)
    is what the registries' constructors say; regenerate with `python -m scorebench.jobs.generate`."""
    from importlib import resources

    from scorebench.jobs.generate import FILE, text

    assert resources.files("scorebench.spec").joinpath("schemas", FILE).read_text() == text()
