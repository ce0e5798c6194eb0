"""Aggregates over seeds, paired comparisons and the verdict, checked by hand and against scipy
(their coverage and family-wise error are simulated in test_calibration)."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scorebench.report.aggregate import (aggregate, comparisons, discretisation_calls, discretisation_line, paired,
                                        time_to_reach)
from scorebench.spec.rows import ROW_COLUMNS
from scorebench.report.intervals import holm, mean_interval
from scorebench.spec.metric_info import BATCHED
from scorebench.report.verdict import _mark, _shared, overall, overall_line, verdict


def rows(values: dict, metric="fisher_divergence", schedule="vp", sampler="-", status=None) -> list[dict]:
    """Summary rows: objective -> per-seed values (NaN with `status` for a seed that did not finish)."""
    out = []
    for objective, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            bad = value is None
            out.append({"dataset": "toy", "objective": objective, "schedule": schedule, "sampler": sampler, "seed": seed,
                        "metric": metric, "value": math.nan if bad else value, "unit": "u",
                        "status": (status or "failed") if bad else "ok", "detail": ""})
    return out


def frame(*parts) -> pd.DataFrame:
    return pd.DataFrame([r for p in parts for r in p], columns=list(ROW_COLUMNS))


def test_the_interval_of_three_known_values_is_the_t_formula():
    """mean ± t(0.975, 2) · s / √3 by hand, on the values for a linear metric and on their logs (a
    geometric mean) for one spanning decades."""
    values = [0.2, 0.5, 0.3]
    t = stats.t.ppf(0.975, 2)
    for metric, transform, back in (("nll_bits_per_dim", np.array, float), ("fisher_divergence", np.log, math.exp)):
        r = aggregate(frame(rows({"dsm": values}, metric=metric))).iloc[0]
        v = transform(np.array(values))
        half = t * v.std(ddof=1) / math.sqrt(3)
        assert r.n_seeds == 3 and r.status == "ok" and r.method == ("t" if back is float else "t on logs")
        assert r.estimate == pytest.approx(back(v.mean()), abs=1e-12, rel=1e-12)
        assert (r.ci_low, r.ci_high) == pytest.approx((back(v.mean() - half), back(v.mean() + half)), abs=1e-12, rel=1e-12)


def test_holm_adjusts_step_down_and_leaves_untested_out():
    adjusted = holm([0.01, math.nan, 0.04, 0.03])
    assert math.isnan(adjusted[1])  # three tests: 3·0.01, then max(0.03, 2·0.03), then max(0.06, 0.04)
    assert adjusted[[0, 3, 2]] == pytest.approx([0.03, 0.06, 0.06])


def test_one_seed_has_no_interval_and_failed_seeds_are_left_out_with_their_n():
    one = mean_interval([0.4])
    assert math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.p_value) and one.method == "none"
    agg = aggregate(frame(rows({"dsm": [0.2, None, 0.4], "ssm": [None, None, None]}, status="diverged")))
    dsm, ssm = agg.set_index("objective").loc["dsm"], agg.set_index("objective").loc["ssm"]
    assert dsm.n_seeds == 2 and dsm.estimate == pytest.approx(math.sqrt(0.2 * 0.4)) and dsm.status == "ok"  # geometric
    assert ssm.n_seeds == 0 and math.isnan(ssm.estimate) and ssm.status == "diverged"


def test_an_objective_paired_with_itself_shows_no_difference_and_a_real_gap_is_resolved():
    dsm = [0.010, 0.014, 0.012]
    ssm = [2 * v * f for v, f in zip(dsm, (1.0, 1.1, 0.95))]  # twice DSM on every seed, give or take 10 %
    pairs = paired(frame(rows({"dsm": dsm, "ssm": ssm}))).set_index("objective")
    assert pairs.loc["dsm", "verdict"] == "no difference at n = 3" and pairs.loc["dsm", "estimate"] == 1.0
    assert pairs.loc["dsm", "prob_improvement"] == 0.5
    assert pairs.loc["ssm", "comparison"] == "ratio" and 1.9 < pairs.loc["ssm", "estimate"] < 2.2
    assert pairs.loc["ssm", "verdict"] == "worse" and pairs.loc["ssm", "prob_improvement"] < 0.5


def test_a_timing_shared_by_a_seed_batch_counts_once_and_replicates_over_cells():
    """Three seeds timed as one batch are one measurement: n = 1 in the cell, not a zero-width
    interval at n = 3; the paired cost ratio replicates over the cells (schedules) instead."""
    def timed(values, schedule):
        out = rows(values, metric="train_seconds", schedule=schedule)
        return [r | {"detail": f"{BATCHED} 3 seeds; 1000 steps"} for r in out]
    summary = frame(timed({"dsm": [2.0] * 3, "ssm": [3.0] * 3}, "vp"), timed({"dsm": [2.2] * 3, "ssm": [3.6] * 3}, "ve"))
    agg = aggregate(summary).set_index(["objective", "schedule"])
    assert (agg.n_seeds == 1).all() and agg.ci_low.isna().all() and agg.loc[("ssm", "ve"), "estimate"] == 3.6
    ssm = paired(summary).set_index("objective").loc["ssm"]
    assert ssm.n_seeds == 2 and ssm.estimate == pytest.approx(math.sqrt(1.5 * 3.6 / 2.2))
    assert ssm.ci_low < ssm.estimate < ssm.ci_high
    unbatched = paired(frame(rows({"dsm": [2.0, 2.1, 1.9], "ssm": [3.0, 3.3, 2.8]}, metric="train_seconds")))
    assert unbatched.set_index("objective").loc["ssm", "n_seeds"] == 3  # timed one by one: seeds replicate


def test_a_linear_metric_is_compared_as_a_difference():
    pairs = paired(frame(rows({"dsm": [3.0, 3.2, 3.1], "ssm": [3.0, 3.3, 3.0]}, metric="nll_bits_per_dim")))
    ssm = pairs.set_index("objective").loc["ssm"]
    assert ssm.comparison == "difference" and ssm.estimate == pytest.approx(0.0, abs=1e-12)
    assert ssm.verdict == "no difference at n = 3"


def test_time_to_reach_uses_the_worst_final_value_so_every_run_has_an_entry():
    curves = pd.DataFrame([
        {"dataset": "toy", "objective": o, "schedule": "vp", "seed": 0, "step": s, "train_seconds": t, "metric": "f",
         "value": v}
        for o, pts in {"dsm": [(1, 1.0, 1.0), (10, 2.0, 0.04), (100, 3.0, 0.01)],
                       "ssm": [(1, 1.5, 1.0), (10, 3.0, 0.3), (100, 4.5, 0.05)]}.items() for s, t, v in pts])
    reach = time_to_reach(curves).set_index("objective")
    assert (reach.target == 0.05).all()
    # DSM crosses 0.05 between (1 s, 1.0) and (2 s, 0.04): log-log, at 2^(ln 20 / ln 25) = 1.906 s
    assert reach.loc["dsm", "seconds"] == pytest.approx(2 ** (math.log(20) / math.log(25)))
    assert reach.loc["ssm", "seconds"] == 4.5  # the worst objective reaches X at its last probe


NO_CURVES = pd.DataFrame(columns=["dataset", "objective", "schedule", "seed", "step", "train_seconds", "metric", "value"])


def test_the_verdict_calls_best_only_when_every_paired_test_is_resolved_and_ties_the_rest():
    five = frame(rows({"dsm": [0.010, 0.011, 0.012, 0.0105, 0.0115], "exact": [0.0105, 0.0125, 0.0115, 0.011, 0.012],
                       "ssm": [0.030, 0.031, 0.033, 0.032, 0.0305]}))
    [(_, table, text)] = verdict(five, comparisons(five), time_to_reach(NO_CURVES))
    marks = {o: table.loc[o, "Fisher divergence"].mark for o in table.index}
    assert marks == {"dsm": "tied", "exact": "tied", "ssm": ""}  # DSM leads but is not resolved from exact
    assert "not resolved between dsm, exact at n = 5" in text
    apart = frame(rows({"dsm": [0.010, 0.011, 0.012, 0.0105, 0.0115], "exact": [0.020, 0.023, 0.0235, 0.021, 0.022],
                        "ssm": [0.030, 0.031, 0.033, 0.032, 0.0305]}))
    [(_, table, text)] = verdict(apart, comparisons(apart), time_to_reach(NO_CURVES))
    assert table.loc["dsm", "Fisher divergence"].mark == "best" and "dsm best on Fisher divergence (next, exact: ×" in text
    one = frame(rows({"dsm": [0.010], "ssm": [0.03]}))
    [(_, table, text)] = verdict(one, comparisons(one), time_to_reach(NO_CURVES))
    assert {c.mark for c in table["Fisher divergence"]} == {""} and "not ranked (n = 1" in text



@pytest.mark.parametrize("metric", ["feature_accuracy", "cond_label_agreement"])
def test_a_higher_is_better_metric_marks_the_largest_best(metric):
    """Its leader is the largest estimate, and its paired test resolved in the leader's favour means
    a positive difference (the metrics the registry declares higher-is-better)."""
    apart = frame(rows({"dsm": [0.60, 0.62, 0.61, 0.63, 0.60], "ssm": [0.90, 0.91, 0.89, 0.92, 0.90]}, metric=metric))
    cells = _shared(apart, "toy", metric)
    _mark(cells, comparisons(apart), "toy", metric)
    assert {o: c.mark for o, c in cells.items()} == {"dsm": "", "ssm": "best"}

def test_the_leaderboard_compares_objectives_in_the_cells_they_share_not_their_best_cell():
    """SSM has a lucky extra cell (a schedule DSM did not run): the shared-cell estimate ignores it."""
    dsm = rows({"dsm": [0.010, 0.011, 0.012]}, schedule="vp")
    ssm = rows({"ssm": [0.020, 0.021, 0.022]}, schedule="vp") + rows({"ssm": [0.001, 0.001, 0.001]}, schedule="ve")
    summary = frame(dsm, ssm)
    [(_, table, _)] = verdict(summary, comparisons(summary), time_to_reach(NO_CURVES))
    assert table.loc["ssm", "Fisher divergence"].estimate == pytest.approx((0.020 * 0.021 * 0.022) ** (1 / 3))
    assert table.loc["ssm", "Fisher divergence"].where == "over 1 shared cell"


def test_across_datasets_needs_two_and_combines_them_with_welch():
    def one(dataset, scale):
        return [r | {"dataset": dataset} for r in rows({"dsm": [1.0, 1.1, 0.9], "ssm": [scale * v for v in (1.0, 1.2, 0.95)]})]
    single = frame(one("toy", 2.0))
    assert overall_line(overall(single)).startswith("Across datasets: fewer than 2")
    alone = frame(*([r | {"dataset": d} for r in rows({"dsm": [1.0, 1.1, 0.9]})] for d in ("toy", "gmm8")))
    assert overall_line(overall(alone)).startswith("Across datasets: no trained objective beside DSM")
    two = frame(one("toy", 2.0), one("gmm8", 3.0))
    table = overall(two).set_index("objective")
    logs = [np.log(np.array([s * v for v in (1.0, 1.2, 0.95)]) / np.array([1.0, 1.1, 0.9])) for s in (2.0, 3.0)]
    assert table.loc["ssm", "estimate"] == pytest.approx(math.exp(np.mean([x.mean() for x in logs])))
    assert table.loc["ssm", "same_sign"] == "2 of 2" and table.loc["ssm", "method"].startswith("t (Welch")


def test_one_batch_timing_spanning_schedules_is_one_measurement_and_no_call():
    """An ensemble times all its schedules × seeds as one batch: the same pair of wall-clocks in every
    cell is one replicate, so the step cost has n = 1, no interval and no `worse` call."""
    def timed(values, schedule):
        return [r | {"detail": f"{BATCHED} 10 members; 1000 steps"} for r in rows(values, "train_seconds", schedule)]
    summary = frame(*(timed({"dsm": [2.0] * 5, "ssm": [3.0] * 5}, s) for s in ("vp", "ve")))
    ssm = paired(summary).set_index("objective").loc["ssm"]
    assert ssm.n_seeds == 1 and ssm.estimate == pytest.approx(1.5) and math.isnan(ssm.ci_low)
    assert ssm.verdict == "n = 1, no interval"


def test_a_geometric_interval_past_the_float_range_is_open_not_an_error():
    """Seeds spanning hundreds of decades (a diverging FID): the upper bound is inf, the estimate finite."""
    e = mean_interval([1.0, 1e300, 1e-300], log=True)
    assert e.estimate == pytest.approx(1.0) and e.high == math.inf and e.low == 0.0


def test_at_equal_compute_the_step_cost_divides_by_the_steps_and_the_line_says_so():
    """Under train.budget_seconds every objective trains the same seconds, so the time ratio is 1 and
    the cost is in the steps: exact's 5 steps against DSM's 3,000 in the same 20 s make a step 600×
    DSM's; the leaderboard shows the steps, the line names the budget and the steps reached."""
    seconds = frame(rows({"dsm": [20.0, 20.1, 19.9], "exact": [20.0, 20.2, 19.8]}, metric="train_seconds"))
    steps = frame(rows({"dsm": [3000] * 3, "exact": [5] * 3}, metric="train_steps"))
    fisher = frame(rows({"dsm": [0.010, 0.011, 0.012], "exact": [0.5, 0.6, 0.55]}))
    summary = pd.concat([seconds, steps, fisher], ignore_index=True)
    [(_, table, text)] = verdict(summary, comparisons(summary), time_to_reach(NO_CURVES), {"toy": 20.0})
    assert table.loc["exact", "step cost vs DSM (×)"].estimate == pytest.approx(600, rel=0.01)
    assert table.loc["exact", "training steps"].estimate == pytest.approx(5)
    assert "at equal compute, 20 s of training per run (steps: exact 5, dsm 3,000)" in text
    [(_, table, text)] = verdict(summary.assign(value=np.where(summary.metric == "train_steps", 1000.0, summary.value)),
                                 comparisons(summary), time_to_reach(NO_CURVES))
    assert "training steps" not in table and "equal compute" not in text  # equal steps: the time ratio is the cost
    assert table.loc["exact", "step cost vs DSM (×)"].estimate == pytest.approx(1.0, rel=0.02)


def test_a_discretisation_is_called_better_at_equal_steps_only_when_holm_resolves_it():
    """heun_sigma's quality is a third of heun's at both counts on every seed (same model, same seed):
    resolved better at both; at the same values plus seed noise around heun's, not resolved."""
    def cells(values, sampler):
        return rows(values, metric="sliced_wasserstein", sampler=sampler)
    sweeps = {"heun": ["heun_5", "heun_10"], "heun_sigma": ["heun_sigma_5", "heun_sigma_10"]}
    base = {"oracle": [1.0, 1.1, 0.9, 1.05, 0.95]}
    apart = frame(*(cells(base, s) for s in sweeps["heun"]),
                  *(cells({"oracle": [v / 3 for v in base["oracle"]]}, s) for s in sweeps["heun_sigma"]))
    calls = discretisation_calls(apart, [("heun_sigma", "heun")], sweeps, {"toy": "sliced_wasserstein"})
    assert list(calls.call) == ["better", "better"] and calls.estimate.iloc[0] == pytest.approx(1 / 3)
    assert "toy · vp better at 2, worse at 0, not resolved at 0 of 2" in discretisation_line(calls, "heun_sigma", "heun")
    noisy = frame(*(cells(base, s) for s in sweeps["heun"]),
                  *(cells({"oracle": [1.02, 1.0, 1.0, 1.0, 1.0]}, s) for s in sweeps["heun_sigma"]))
    calls = discretisation_calls(noisy, [("heun_sigma", "heun")], sweeps, {"toy": "sliced_wasserstein"})
    assert set(calls.call) == {"not resolved"}
