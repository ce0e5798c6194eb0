"""The report's statistics as claims: coverage of every interval it prints and the family-wise error
of its calls, measured by simulating seeds of known truth through the project's own code.

Tolerances: with T simulated intervals of true coverage 0.95 the observed coverage has standard
error √(0.95 · 0.05 / T) (0.0049 at T = 2,000, 0.0069 at 1,000); the bounds [0.93, 0.97] sit 2.9 to
4.1 of them from 0.95, and the generator is seeded, so a pass is no accident and a method that
covers 75 % (the percentile bootstrap at n = 3) or 99 % fails. Under the null, R simulated reports
with a family-wise error of 5 % make a call in a binomial share with standard error √(0.05·0.95/R).
"""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorebench.report.aggregate import aggregate, comparisons
from scorebench.spec.rows import ROW_COLUMNS
from scorebench.report.verdict import overall, verdict

TRAINED = ("dsm", "exact", "ssm", "ssm_vr")
NO_CURVES = pd.DataFrame(columns=["dataset", "objective", "schedule", "seed", "seconds"])


def _rows(dataset, objective, schedule, sampler, metric, values) -> list[tuple]:
    return [(dataset, objective, schedule, sampler, seed, metric, float(v), "u", "ok", "")
            for seed, v in enumerate(values)]


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def _covered(low, high, truth) -> float:
    low, high = np.asarray(low, float), np.asarray(high, float)
    return float(np.mean((low <= truth) & (truth <= high)))


CELL_CASES = {  # metric: its scale in the registry; draw(rng, n): seeds; the estimand the estimate targets
    "normal": ("nll_bits_per_dim", lambda rng, n: rng.normal(3.0, 0.2, n), 3.0),
    "log-normal": ("fisher_divergence", lambda rng, n: rng.lognormal(math.log(0.01), 0.5, n), 0.01),  # geometric mean
}


@pytest.mark.parametrize("n", [3, 5, 10])
@pytest.mark.parametrize("case", CELL_CASES)
def test_a_cells_interval_covers_95_percent(case, n):
    """aggregate.csv's interval of a cell over n seeds (the leaderboard's cost and time-to-X cells and
    the FID floor use the same estimator)."""
    metric, draw, truth = CELL_CASES[case]
    rng = np.random.default_rng(n)
    trials = 2000
    agg = aggregate(_frame([r for t in range(trials) for r in _rows("d", "dsm", "vp", f"s{t}", metric, draw(rng, n))]))
    assert len(agg) == trials and (agg.n_seeds == n).all()
    assert 0.93 <= _covered(agg.ci_low, agg.ci_high, truth) <= 0.97


def test_a_skewed_linear_metric_is_covered_as_the_report_says():
    """Gamma(2) seeds (skewness 1.4) through a linear metric: the t-interval undercovers a little; the
    report's method paragraph states about 91 % at 5 seeds, which this pins to [0.89, 0.93]."""
    rng = np.random.default_rng(7)
    agg = aggregate(_frame([r for t in range(2000) for r in _rows("d", "dsm", "vp", f"s{t}", "kid", rng.gamma(2.0, 1.0, 5))]))
    assert 0.89 <= _covered(agg.ci_low, agg.ci_high, 2.0) <= 0.93


def _paired_world(rng, trials: int, n: int, effect: float, metric: str, log: bool):
    """Per trial (a dataset) DSM and SSM over 2 schedules × n seeds, sharing seed and cell effects
    (the pairing), SSM shifted by `effect` on the log scale (a ratio) or the linear one."""
    rows = []
    for t in range(trials):
        seed_effect, cell_effect = rng.normal(0, 0.5, n), {"vp": 0.0, "ve": 0.7}
        for objective, shift in (("dsm", 0.0), ("ssm", effect)):
            for schedule, c in cell_effect.items():
                z = seed_effect + c + shift + rng.normal(0, 0.3, n)
                rows += _rows(f"d{t}", objective, schedule, "-", metric, np.exp(z) if log else z)
    return _frame(rows)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_paired_ratios_and_differences_cover_95_percent(n):
    """paired.csv's interval: a ratio (log-normal values) and a difference (normal values)."""
    rng = np.random.default_rng(100 + n)
    trials = 1000
    for metric, log, truth in (("fisher_divergence", True, math.exp(0.4)), ("nll_bits_per_dim", False, 0.4)):
        pairs = comparisons(_paired_world(rng, trials, n, 0.4, metric, log))
        ssm = pairs[pairs.objective == "ssm"]
        assert len(ssm) == trials and (ssm.n_seeds == n).all()
        assert 0.93 <= _covered(ssm.ci_low, ssm.ci_high, truth) <= 0.97, metric


def test_the_leaderboards_shared_cell_estimates_cover_95_percent():
    """The verdict's cells: per seed the geometric mean over shared cells, then a t-interval."""
    rng = np.random.default_rng(11)
    trials, n = 1000, 5
    summary = _paired_world(rng, trials, n, 0.4, "fisher_divergence", True)
    truth = {"dsm": math.exp(0.35), "ssm": math.exp(0.75)}  # exp(shift + the cells' mean effect 0.35)
    tests = comparisons(summary)
    boards = verdict(summary, tests, NO_CURVES)
    for objective, value in truth.items():
        cells = [table.loc[objective, "Fisher divergence"] for _, table, _ in boards]
        assert 0.93 <= _covered([c.low for c in cells], [c.high for c in cells], value) <= 0.97, objective


def test_the_answer_across_datasets_covers_95_percent():
    """overall.csv: three datasets of different effect and seed noise, 5 seeds each; the estimand is
    the mean effect over these datasets (Welch–Satterthwaite over seeds nested in datasets)."""
    rng = np.random.default_rng(5)
    effects, noise = (0.2, 0.6, 1.0), (0.1, 0.3, 0.8)
    lows, highs = [], []
    for _ in range(1000):
        rows = []
        for d, (effect, sd) in enumerate(zip(effects, noise)):
            base = rng.normal(0, 0.5, 5)
            rows += _rows(f"d{d}", "dsm", "vp", "-", "fisher_divergence", np.exp(base + rng.normal(0, sd, 5)))
            rows += _rows(f"d{d}", "ssm", "vp", "-", "fisher_divergence", np.exp(base + effect + rng.normal(0, sd, 5)))
        summary = _frame(rows)
        row = overall(summary).iloc[0]
        lows.append(row.ci_low)
        highs.append(row.ci_high)
    assert 0.93 <= _covered(lows, highs, math.exp(np.mean(effects))) <= 0.97


def _null_report(rng, n: int) -> pd.DataFrame:
    """One dataset's summary where every trained objective is the same up to seed noise: two model
    metrics over 2 schedules and two sample metrics over 2 schedules × 2 samplers, paired by seed."""
    rows = []
    seed_effect = rng.normal(0, 0.5, n)
    for schedule in ("vp", "ve"):
        for metric, sampler, log in (("fisher_divergence", "-", True), ("nll_bits_per_dim", "-", False),
                                     ("sliced_wasserstein", "em", True), ("sliced_wasserstein", "ode", True),
                                     ("mode_weight_tv", "em", False), ("mode_weight_tv", "ode", False)):
            for objective in TRAINED:
                z = seed_effect + rng.normal(0, 0.3, n)
                rows += _rows("d", objective, schedule, sampler, metric, np.exp(z) if log else z)
    return _frame(rows)


def _calls(summary: pd.DataFrame, tests: pd.DataFrame) -> bool:
    """Whether the page makes any call: a better/worse in the paired table or a best in the leaderboard."""
    marks = {c.mark for _, table, _ in verdict(summary, tests, NO_CURVES) for col in table for c in table[col]
             if hasattr(c, "mark")}
    return bool(tests.verdict.isin(["better", "worse"]).any() or "best" in marks)


def test_under_the_null_a_page_makes_a_call_at_most_5_percent_of_the_time():
    """R = 400 null reports at the default's 5 seeds: the share that makes any call stays within 3
    standard errors of 5 % (0.083); the same tests called unadjusted (interval alone) call far more,
    so the bound can fail."""
    rng = np.random.default_rng(2026)
    reports, called, unadjusted = 400, 0, 0
    for _ in range(reports):
        summary = _null_report(rng, 5)
        tests = comparisons(summary)
        called += _calls(summary, tests)
        unadjusted += bool((tests.p_value < 0.05).any())
    assert called / reports <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reports)
    assert unadjusted / reports > 0.3


def test_the_default_grids_verdict_names_the_fisher_divergence_winner_on_toy_and_gmm8():
    """The committed default-grid summary (benchmarks/default_grid.py): where the objectives really
    differ (Fisher-divergence ratios of 1.4–3.7× to DSM), the calibrated, Holm-controlled verdict
    still calls a best objective, with an interval, and the line says by how much."""
    summary = pd.read_csv(Path(__file__).resolve().parents[2] / "benchmarks/results/default_summary.csv")
    boards = {d: (table, text) for d, table, text in verdict(summary, comparisons(summary), NO_CURVES)}
    for dataset in ("toy", "gmm8"):
        table, text = boards[dataset]
        cells = table["Fisher divergence"].dropna()
        [best] = [o for o, c in cells.items() if c.mark == "best"]
        assert cells[best].n >= 5 and cells[best].low < cells[best].estimate < cells[best].high
        assert f"{best} best on Fisher divergence (next, " in text, text
