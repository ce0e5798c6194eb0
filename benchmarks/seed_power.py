"""How many seeds the calibrated verdict needs: the chance that each dataset's leaderboard calls its
leader *best* on each headline metric, at n seeds, under the page's Holm-controlled family.

Each test of a dataset's family (`aggregate.comparisons`) is refitted from a committed summary: its
per-seed replicates' mean and standard deviation. Seeds are then drawn from those normals at each n,
every test gets its t p-value (`intervals.mean_interval`), the family its Holm adjustment, and a
*best* is counted when every pairwise test of the leader on that metric is rejected in its favour.

    python benchmarks/seed_power.py [benchmarks/results/default_summary.csv]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from machine import record
from scorebench.report.aggregate import comparisons, independent, replicates, wide
from scorebench.spec.grid import untrained
from scorebench.spec.metric_info import METRIC_INFO
from scorebench.report.intervals import FAMILY_ERROR, holm, mean_interval

SEEDS = (3, 4, 5, 6, 8, 10)
TRIALS = 1000


def family(summary: pd.DataFrame, dataset: str) -> list[dict]:
    """Every test of a dataset's family with its replicates' mean and standard deviation."""
    ok = summary[(summary.dataset == dataset) & (summary.status == "ok") & (summary.objective != "data")]
    tests = comparisons(ok)
    out = []
    for r in tests[tests.p_value.notna()].itertuples():
        part = ok[ok.metric == r.metric]
        batched = METRIC_INFO[r.metric].timing and len(independent(part)) < len(part)
        units, _ = replicates(wide(part), r.objective, r.reference, r.metric, batched)
        out.append({"metric": r.metric, "objective": r.objective, "reference": r.reference, "mean": float(units.mean()),
                    "sd": float(units.std(ddof=1)), "lower_is_better": METRIC_INFO[r.metric].lower_is_better})
    return out


def leaders(tests: list[dict]) -> dict[str, str]:
    """Per headline metric of the family (one with pairwise tests), the objective every test favours most."""
    out = {}
    for metric in {t["metric"] for t in tests if t["reference"] != "dsm"}:
        pairs = [t for t in tests if t["metric"] == metric and not (untrained(t["objective"]) or untrained(t["reference"]))]
        names = {t["objective"] for t in pairs} | {t["reference"] for t in pairs}
        score = {o: sum((t["mean"] if t["objective"] == o else -t["mean"] if t["reference"] == o else 0)
                        * (1 if t["lower_is_better"] else -1) for t in pairs) for o in names}
        out[metric] = min(score, key=score.get)
    return out


def power(tests: list[dict], leader: dict[str, str], n: int, rng: np.random.Generator) -> dict[str, float]:
    """Per headline metric: the share of simulated families of n seeds that call its leader best."""
    hits = dict.fromkeys(leader, 0)
    for _ in range(TRIALS):
        draws = [rng.normal(t["mean"], max(t["sd"], 1e-12), n) for t in tests]
        estimates = [mean_interval(d) for d in draws]
        p_holm = holm([e.p_value for e in estimates])
        for metric, best in leader.items():
            mine = [(t, e, p) for t, e, p in zip(tests, estimates, p_holm)
                    if t["metric"] == metric and best in (t["objective"], t["reference"])
                    and not (untrained(t["objective"]) or untrained(t["reference"]))]
            ahead = all(p < FAMILY_ERROR and ((e.estimate < 0) == t["lower_is_better"]) == (t["objective"] == best)
                        for t, e, p in mine)
            hits[metric] += ahead
    return {m: h / TRIALS for m, h in hits.items()}


def main(path: str) -> None:
    summary = pd.read_csv(path)
    rng = np.random.default_rng(0)
    result = {"summary": str(Path(path)), "trials": TRIALS, "family_error": FAMILY_ERROR, "datasets": {}}
    for dataset in sorted(set(summary[summary.objective != "data"].dataset)):
        tests = family(summary, dataset)
        leader = leaders(tests)
        result["datasets"][dataset] = {"tests": len(tests), "leader": leader,
                                       "p_best": {str(n): power(tests, leader, n, rng) for n in SEEDS}}
    record("seed_power", result)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parent / "results/default_summary.csv"))
