"""The typed Benchmark every stage takes: accessors that hand out copies, the one reading of `train.net`,
and no stage left that takes the raw config mapping."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import scorebench
from scorebench.errors import ConfigError
from scorebench.spec.benchmark import Benchmark
from scorebench.spec.settings import EvaluateConfig, TrainConfig

CONFIG = {"name": "b", "datasets": {"toy": {"kind": "ncsn_toy"},
                                    "digits": {"kind": "digits", "train": {"steps": 7, "net": {"emb": 8}}}},
          "objectives": ["dsm", {"exact": {"max_dim": 64}}], "schedules": {"vp": {"kind": "vp"}},
          "samplers": {"em": {"kind": "em", "steps": [5, 10]}}, "train": {"steps": 3, "net": {"width": 16}}}


def test_accessors_give_typed_settings_and_copies_that_cannot_change_the_benchmark():
    bench = Benchmark.of(CONFIG)
    assert isinstance(bench.train("toy"), TrainConfig) and isinstance(bench.evaluate("toy"), EvaluateConfig)
    assert bench.train("toy").steps == 3 and bench.train("digits").steps == 7  # the entry's own section wins
    assert sorted(bench.samplers) == ["em_10", "em_5"] and bench.sweeps == {"em": ["em_5", "em_10"]} and bench.shown == ["em_10"]
    assert bench.objective("exact") == {"max_dim": 64} and bench.objective_params("exact") == {}  # max_dim is the grid's
    bench.sampler("em_5")["steps"] = 99
    bench.dataset("toy")["kind"] = "digits"
    bench.train("toy").net["width"] = 1
    assert bench.sampler("em_5")["steps"] == 5 and bench.dataset("toy")["kind"] == "ncsn_toy"
    assert bench.train("toy").net["width"] == 16
    assert bench.layout("r").root.as_posix() == "r/b"


def test_train_net_is_read_in_one_place_its_kind_by_the_data_and_the_network_layer_resolves_none():
    """No kind: the MLP for vectors, the U-Net for images (a digits entry's `emb` is then the U-Net's);
    the parse checks the same reading; `build_backbone` refuses a spec without a kind rather than guess."""
    from scorebench.core.nets import build_backbone

    bench = Benchmark.of(CONFIG)
    assert bench.train("toy").net == {"kind": "mlp", "width": 16}
    assert bench.train("digits").net == {"kind": "unet", "emb": 8}
    with pytest.raises(ConfigError, match="datasets.digits.train.net.channels: unknown key"):
        Benchmark.of({**CONFIG, "datasets": {**CONFIG["datasets"], "digits": {
            "kind": "digits", "train": {"net": {"kind": "mlp", "channels": [8]}}}}})
    with pytest.raises(ConfigError, match="train.net.kind: unknown network None"):
        build_backbone({"width": 16}, (2,))


def _stage_modules():
    for package in ("jobs", "report"):
        path = importlib.import_module(f"scorebench.{package}").__path__
        for info in pkgutil.iter_modules(path):
            yield importlib.import_module(f"scorebench.{package}.{info.name}")
    yield importlib.import_module("scorebench.cli")


def test_no_stage_takes_the_raw_config_mapping():
    """Every function of the jobs and report layers and the CLI that takes the benchmark takes the
    Benchmark: a parameter named `config` or `bench` annotated as a dict would be the raw mapping again."""
    found = []
    for module in _stage_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__:
                continue
            for param in inspect.signature(fn).parameters.values():
                if param.name in ("config", "bench") and "dict" in str(param.annotation):
                    found.append(f"{module.__name__}.{name}({param.name}: {param.annotation})")
    assert not found, found
    assert scorebench.jobs.build.check.__annotations__["bench"] == "Benchmark"  # the check itself can see one
