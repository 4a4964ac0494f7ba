"""Buyers whose purchases follow BG/NBD and Gamma-Gamma with known parameters: the ground truth the prediction
step's models are validated against (tests/test_prediction.py, docs/prediction.md "Validation").

The stories the models tell (Fader, Hardie and Lee 2005; Fader and Hardie 2013), drawn literally:

- BG/NBD: a customer's first purchase starts their clock. While active they buy at rate lambda ~ Gamma(shape r,
  rate alpha) per day (exponential times between purchases); after each repeat purchase they become inactive for
  good with probability p ~ Beta(a, b).
- Gamma-Gamma: the value of each purchase is Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate v) per customer,
  independent of the purchase process.

Purchases are continuous in time; the pipeline counts purchase *days*, so a generated history is what the
warehouse's `int_customers__purchase_days` would hold (several purchases on one day: one row, values summed).
Deterministic for a seed (NumPy's PCG64 generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BuyerParameters:
    """BG/NBD (time unit: days) and Gamma-Gamma parameters of a population."""

    r: float = 0.8
    alpha: float = 40.0
    a: float = 0.8
    b: float = 2.5
    p: float = 6.0
    q: float = 4.0
    v: float = 15.0

    def bg_nbd(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def gamma_gamma(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}


def simulate_buyers(customers: int, days: int, parameters: BuyerParameters = BuyerParameters(), seed: int = 0,
                    start: date = date(2024, 1, 1), acquisition_days: int | None = None) -> pd.DataFrame:
    """Purchase days of `customers` buyers over [start, start + days): customer_id, purchase_date, revenue_amount.

    First purchases are spread uniformly over the first `acquisition_days` (default: half the period), so the
    customers have different tenures, as a real customer base does."""
    rng = np.random.default_rng(seed)
    acquisition = acquisition_days if acquisition_days is not None else max(days // 2, 1)
    first = rng.uniform(0, acquisition, customers)
    rate = rng.gamma(parameters.r, 1.0 / parameters.alpha, customers)
    dropout = rng.beta(parameters.a, parameters.b, customers)
    nu = rng.gamma(parameters.q, 1.0 / parameters.v, customers)
    ids, times = [], []
    for i in range(customers):
        t = first[i]
        ids.append(i)
        times.append(t)
        while True:
            t += rng.exponential(1.0 / rate[i])
            if t >= days:
                break
            ids.append(i)
            times.append(t)
            if rng.random() < dropout[i]:
                break
    ids_array = np.asarray(ids)
    values = rng.gamma(parameters.p, 1.0 / nu[ids_array])
    frame = pd.DataFrame({
        "customer_id": [f"sim{i:07d}" for i in ids_array],
        "purchase_date": pd.Timestamp(start) + pd.to_timedelta(np.floor(times), unit="D"),
        "revenue_amount": values,
    })
    return frame.groupby(["customer_id", "purchase_date"], as_index=False)["revenue_amount"].sum()


def period_end(days: int, start: date = date(2024, 1, 1)) -> date:
    """The as-of date of a simulation over `days` days: its last day."""
    return start + timedelta(days=days - 1)
