"""Fit and scoring time of the prediction step (orchestration/lib/prediction.py) at N customers, on synthetic RFM
rows drawn from BG/NBD + Gamma-Gamma with known parameters (PyMC-Marketing's own BG/NBD distribution for frequency
and recency; each customer's mean repeat purchase value drawn from Gamma-Gamma), then the step's own fit and score
functions, timed apart. The summary of transactions (rfm_summary) and the backtest's two fits are not in it.

    .venv/bin/python benchmarks/prediction_fit.py [--customers 500000] [--days 730]

Issue 14's target: fit and scoring for 500k customers in at most 60 s. PyTensor compiles the models once per
machine (about 30 s, cached in ~/.pytensor): a small fit warms up before the timed one.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from generator.buyers import BuyerParameters
from orchestration.lib import prediction


def synthetic_rfm(customers: int, days: int, params: BuyerParameters, seed: int) -> pd.DataFrame:
    import pymc as pm
    from pymc_marketing.clv.distributions import BetaGeoNBD

    rng = np.random.default_rng(seed)
    tenure = np.floor(rng.uniform(1, days, customers))
    with prediction.quiet_pymc():
        draws = pm.draw(BetaGeoNBD.dist(r=params.r, alpha=params.alpha, a=params.a, b=params.b, T=tenure),
                        random_seed=seed)
    recency, frequency = np.floor(draws[:, 0]), draws[:, 1]
    nu = rng.gamma(params.q, 1.0 / params.v, customers)
    repeat = np.maximum(frequency, 1)
    monetary = np.where(frequency > 0, rng.gamma(params.p * repeat, 1.0 / (nu * repeat)), 0.0)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(customers)], "frequency": frequency,
                         "recency": recency, "T": tenure, "monetary_value": monetary})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()
    params, as_of = BuyerParameters(), date(2026, 1, 1)
    warm = synthetic_rfm(5_000, args.days, params, seed=1)
    prediction.score(prediction.fit_bg_nbd(warm), prediction.fit_gamma_gamma(warm), warm, as_of)
    rfm = synthetic_rfm(args.customers, args.days, params, seed=7)
    timings: dict[str, float] = {}
    for label, step in (("fit BG/NBD", lambda: prediction.fit_bg_nbd(rfm)),
                        ("fit Gamma-Gamma", lambda: prediction.fit_gamma_gamma(rfm))):
        started = time.perf_counter()
        fit = step()
        timings[label] = time.perf_counter() - started
        print(f"  {label:<18} {timings[label]:6.1f} s  {fit.status}, {fit.customers_fitted:,} customers, "
              + ", ".join(f"{k} {v:.3g}" for k, v in fit.parameters.items()))
        if fit.model == prediction.BG_NBD:
            bg = fit
        else:
            gg = fit
    started = time.perf_counter()
    scored = prediction.score(bg, gg, rfm, as_of)
    timings["score"] = time.perf_counter() - started
    print(f"  {'score':<18} {timings['score']:6.1f} s")
    print(f"fit and scoring of {len(scored):,} customers: {sum(timings.values()):.1f} s")


if __name__ == "__main__":
    main()
