"""Fit and scoring time of the prediction step (orchestration/lib/prediction.py) at N customers: buyers simulated
with known BG/NBD + Gamma-Gamma parameters (generator/buyers.py), then the step's own functions, timed apart.

    .venv/bin/python benchmarks/prediction_fit.py [--customers 500000] [--days 730]

Issue 14's target: fit and scoring for 500k customers in at most 60 s. PyTensor compiles the models once per
machine (about 30 s, cached in ~/.pytensor): a first run is warmed up before the timed one unless --no-warm-up.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from generator.buyers import BuyerParameters, period_end, simulate_buyers
from orchestration.lib import prediction


def timed(label: str, timings: dict, fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    timings[label] = time.perf_counter() - started
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--no-warm-up", action="store_true")
    args = parser.parse_args()
    start = date(2024, 1, 1)
    as_of = period_end(args.days, start)
    if not args.no_warm_up:  # compile (or load from the cache) the models' C code outside the timings
        small = simulate_buyers(2_000, args.days, seed=1, start=start)
        prediction.predict(small, as_of)
    t = time.perf_counter()
    purchases = simulate_buyers(args.customers, args.days, BuyerParameters(), seed=7, start=start)
    print(f"simulated {args.customers:,} buyers, {len(purchases):,} purchase days in {time.perf_counter() - t:.1f} s")
    timings: dict[str, float] = {}
    rfm = timed("summary (rfm_summary)", timings, prediction.summarise, purchases, as_of)
    bg = timed("fit BG/NBD", timings, prediction.fit_bg_nbd, rfm)
    gg = timed("fit Gamma-Gamma", timings, prediction.fit_gamma_gamma, rfm)
    scored = timed("score", timings, prediction.score, bg, gg, rfm, as_of)
    fit_and_score = sum(timings.values())
    timed("backtest (two more fits)", timings, prediction.backtest, purchases, as_of)
    for label, seconds in timings.items():
        print(f"  {label:<28} {seconds:7.1f} s")
    print(f"fit and scoring of {len(scored):,} customers: {fit_and_score:.1f} s "
          f"(with the backtest: {sum(timings.values()):.1f} s); BG/NBD {bg.status}, Gamma-Gamma {gg.status}")


if __name__ == "__main__":
    main()
