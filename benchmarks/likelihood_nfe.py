"""Benchmark: PF-ODE likelihood NFE and error against scipy's RK45 at the same tolerance (target NFE ≤ 1.05×).

Run on demand: `.venv/bin/python benchmarks/likelihood_nfe.py`. The oracle (exact) score of the NCSN
toy on VP and VE, 200 held-out points, exact divergence, float64: scorebench's `log_likelihood`
(torchdiffeq dopri5 landing on t = 1) and scipy's `solve_ivp(method="RK45")` integrate the same
right-hand side; both NLLs are compared with the true log-density. Writes
benchmarks/results/likelihood_nfe.json.
"""
from __future__ import annotations

import numpy as np
import torch
from machine import record
from scipy.integrate import solve_ivp

from scorebench.core.data import build_dataset
from scorebench.core.likelihood import _divergence_exact, log_likelihood
from scorebench.core.oracle import OracleScore
from scorebench.core.sde import build_process

TOL = 1e-5
POINTS = 200


def scipy_log_likelihood(score, process, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The same integral by scipy's RK45 on the flattened state: (log p, NFE)."""
    n, shape = x.shape[0], x.shape
    nfe = 0

    def rhs(t, state):
        nonlocal nfe
        nfe += 1
        xt = torch.from_numpy(state[:-n]).reshape(shape)
        v, div = _divergence_exact(score, process, xt, torch.tensor(t, dtype=x.dtype))
        return torch.cat([v.reshape(-1), div]).detach().numpy()

    state0 = np.concatenate([x.reshape(-1).numpy(), np.zeros(n)])
    sol = solve_ivp(rhs, (process.eps, 1.0), state0, method="RK45", rtol=TOL, atol=TOL)
    x1, delta = torch.from_numpy(sol.y[:-n, -1]).reshape(shape), torch.from_numpy(sol.y[-n:, -1])
    return process.prior_logp(x1) + delta, nfe


def main() -> None:
    torch.set_default_dtype(torch.float64)
    data = build_dataset("toy", {"kind": "ncsn_toy"})
    x = data.test[:POINTS].double()
    results = {}
    for spec in ({"kind": "vp"}, {"kind": "ve", "sigma_max": 100.0}):
        process = build_process("s", spec, data.train)
        score = OracleScore(data.mixture, process)
        truth = data.mixture.log_prob(x)
        ours, rec = log_likelihood(score, process, x, divergence="exact", rtol=TOL, atol=TOL)
        theirs, nfe = scipy_log_likelihood(score, process, x)
        results[spec["kind"]] = {
            "scorebench_nfe": rec["nfe"], "scipy_rk45_nfe": nfe, "nfe_ratio": round(rec["nfe"] / nfe, 3),
            "scorebench_mean_abs_error_nats": float((ours - truth).abs().mean()),
            "scipy_mean_abs_error_nats": float((theirs - truth).abs().mean()),
        }
    record("likelihood_nfe", {"rtol": TOL, "atol": TOL, "points": POINTS, "target_nfe_ratio": 1.05, "results": results})


if __name__ == "__main__":
    main()
