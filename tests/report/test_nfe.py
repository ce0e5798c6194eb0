"""The NFE sweep's report numbers: the sweep cells joined with their NFE and the NFE to reach X."""
from __future__ import annotations

import math

import pandas as pd

from scorebench.report.aggregate import AGGREGATE_COLUMNS, REACH_FACTOR, nfe_to_reach, sweep_cells
from scorebench.spec.benchmark import Benchmark
from scorebench.spec.layout import figure_files
from scorebench.spec.sweeps import members, shown


def _agg(quality: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Aggregate rows of toy/vp: per (objective, sampler) its sliced Wasserstein and an nfe of the count in the name."""
    rows = []
    for (objective, sampler), value in quality.items():
        for metric, estimate in (("sliced_wasserstein", value), ("nfe", float(sampler.split("_")[-1]))):
            rows.append({"dataset": "toy", "objective": objective, "schedule": "vp", "sampler": sampler, "metric": metric,
                         "estimate": estimate, "ci_low": estimate * 0.9, "ci_high": estimate * 1.1, "n_seeds": 3,
                         "unit": "", "status": "ok", "method": "t"})
    return pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS))


def test_nfe_to_reach_is_the_smallest_nfe_within_the_factor_of_the_oracles_median_finest_value():
    """The oracle's finest values are 1.0 (em_20) and 2.0 (heun_20): X = 1.1 × their median 1.5 = 1.65; em
    reaches it at 10, heun with the oracle never (best 2.0 at 20), dsm's em at 20; heun_5 (no sweep) is no cell."""
    sweeps = {"em": ["em_5", "em_10", "em_20"], "heun": ["heun_10", "heun_20"]}
    agg = _agg({("oracle", "em_5"): 4.0, ("oracle", "em_10"): 1.6, ("oracle", "em_20"): 1.0,
                ("oracle", "heun_10"): 3.0, ("oracle", "heun_20"): 2.0, ("oracle", "heun_5"): 0.1,
                ("dsm", "em_5"): 5.0, ("dsm", "em_10"): 3.0, ("dsm", "em_20"): 1.2})
    cells = sweep_cells(agg, sweeps, {"toy": "sliced_wasserstein"})
    assert len(cells) == 8 and list(cells[cells.objective == "dsm"].nfe) == [5.0, 10.0, 20.0]
    reach = nfe_to_reach(cells).set_index(["sweep", "objective"])
    assert math.isclose(reach.target.iloc[0], REACH_FACTOR * 1.5)
    assert reach.loc[("em", "oracle"), "nfe"] == 10 and reach.loc[("em", "dsm"), "nfe"] == 20
    assert math.isnan(reach.loc[("heun", "oracle"), "nfe"]) and reach.loc[("heun", "oracle"), "best_nfe"] == 20


def test_a_sweep_adds_the_nfe_figure_and_per_sampler_figures_show_its_finest_count():
    config = Benchmark.of({"name": "s", "datasets": {"toy": {"kind": "ncsn_toy"}}, "objectives": ["oracle"],
                           "schedules": {"vp": {"kind": "vp"}},
                           "samplers": {"em": {"kind": "em", "steps": [50, 5, 10]}, "pc": {"kind": "pc"},
                                        "em_default": {"kind": "em", "sweep": "em"}}}).config  # joins at its 1000
    assert members(config) == {"em": ["em_5", "em_10", "em_50", "em_default"]}
    assert sorted(shown(config)) == ["em_default", "pc"]
    assert "quality_vs_nfe.png" in figure_files(True, False, sweep=True)
    assert "quality_vs_nfe.png" not in figure_files(True, False) + figure_files(False, True, sweep=True)


def test_the_nfe_figure_names_its_dotted_line_in_the_legend():
    """The legend's last entry is the label given for the dotted target line (the truth figure's own),
    not a value read from the targets table."""
    from scorebench.report.figures import quality_vs_nfe

    cells = sweep_cells(_agg({("oracle", "em_5"): 4.0, ("oracle", "em_10"): 1.6}), {"em": ["em_5", "em_10"]},
                        {"toy": "sliced_wasserstein"})
    targets = pd.DataFrame({"dataset": ["toy"], "schedule": ["vp"], "target": [0.5]})
    svg = quality_vs_nfe(cells, targets, target_label="the truth line").svg.decode()
    assert "the truth line" in svg and "dtype" not in svg
