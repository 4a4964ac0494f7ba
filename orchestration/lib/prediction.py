"""Who will buy again, how much, and who is slipping away: BG/NBD and Gamma-Gamma fitted on every customer's
purchase days (docs/prediction.md).

Input: `intermediate.int_customers__purchase_days` of the build file (dbt: one row per resolved customer and day
with a purchase, online and in store, revenue summed; "now" is the as-of time every mart uses). Output, written into
the same file by one transaction:

- `marts.customer_predictions`: one row per customer with at least one purchase (customers who never bought are not
  in it: the models describe repeat buying after a first purchase, docs/prediction.md);
- `marts.prediction_model_parameters`: the fitted parameters (BG/NBD r, alpha in days, a, b; Gamma-Gamma p, q, v);
- `marts.prediction_backtest`: the same models fitted on a calibration period, their predictions for the holdout
  period against what the customers did, per calibration frequency and in total;
- `ops.prediction_fits`: how each fit went (converged or not, the largest gradient per customer at the optimum).

The models are refitted when their parameters are JOURNEY_PREDICTION_REFIT_DAYS (7) days old or more, counted in
as-of dates, or when the number of customers moved by more than REFIT_CUSTOMER_DRIFT since the fit; the nights
between score every customer with the stored parameters (docs/prediction.md "Refits").

The models come from PyMC-Marketing's CLV module (`rfm_summary`, `rfm_train_test_split`, `BetaGeoModel`,
`GammaGammaModel`), fitted by maximum a posteriori with flat priors (that is, maximum likelihood, as `lifetimes`
fitted them). PyMC-Marketing is imported when a fit runs, not when the definitions load (it takes seconds).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from typing import Any
from unittest import mock

import duckdb
import numpy as np
import pandas as pd

from orchestration.lib.background import start_imports, wait_for_imports

PURCHASE_DAYS_TABLE = "intermediate.int_customers__purchase_days"
PREDICTIONS_TABLE = "marts.customer_predictions"
PARAMETERS_TABLE = "marts.prediction_model_parameters"
BACKTEST_TABLE = "marts.prediction_backtest"
FITS_TABLE = "ops.prediction_fits"

# Changed whenever what the models are given or how they are fitted changes (customer_predictions.model_version).
MODEL_VERSION = "bg_nbd+gamma_gamma/1"
BG_NBD, GAMMA_GAMMA = "bg_nbd", "gamma_gamma"
BG_NBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")
TIME_UNIT = "day"
HORIZONS_DAYS = (30, 90, 365)

# Fewer customers with a repeat purchase than this, or a shorter purchase history (first purchase to as-of date):
# no fit (a new warehouse's first weeks; on 12 days of 300 people BG/NBD's likelihood has no maximum to find and the
# optimiser diverges); the tables stay empty and no gate fails.
MIN_REPEAT_BUYERS = 10
MIN_HISTORY_DAYS = 28
# A fit has converged when the log posterior's gradient (in the optimiser's unconstrained coordinates) is at most
# this, per customer fitted: L-BFGS-B stops on a relative change of 2.2e-9 in the log likelihood, which leaves
# gradients of about 1e-5 per customer; an optimiser stopped early (evaluation budget, NaN) leaves 1e-2 and more.
MAX_GRADIENT_PER_CUSTOMER = 1e-3
# The backtest's holdout: the last third of the purchase history, at most a year (the calibration keeps the rest).
BACKTEST_HOLDOUT_SHARE = 1 / 3
BACKTEST_MAX_HOLDOUT_DAYS = 365
MIN_BACKTEST_HOLDOUT_DAYS = 7
# Calibration frequencies of the backtest: 0, 1, ..., BUCKETS - 1 and "BUCKETS+" (and the total).
BACKTEST_BUCKETS = 6
TOTAL_BUCKET = "total"
# Refits: the parameters of a population move slowly, so the nights between refits score with stored ones.
REFIT_DAYS_ENV = "JOURNEY_PREDICTION_REFIT_DAYS"
DEFAULT_REFIT_DAYS = 7
REFIT_CUSTOMER_DRIFT = 0.10  # a backfill or an erasure that moves the customers by more than this refits at once

# Column name -> DuckDB type of each output table (the order is the table's). dbt's on-run-start hook creates the
# same empty tables so that dbt alone can build customer_360 (macros/prediction_tables.sql; pinned by a test).
PREDICTION_COLUMNS = {
    "customer_id": "varchar",
    "as_of_date": "date",
    "frequency": "integer",
    "recency_days": "integer",
    "tenure_days": "integer",
    "monetary_value": "double",
    "p_alive": "double",
    "expected_purchases_30d": "double",
    "expected_purchases_90d": "double",
    "expected_purchases_365d": "double",
    "expected_avg_order_value": "double",
    "expected_revenue_365d": "double",
    "model_version": "varchar",
}
PARAMETER_COLUMNS = {
    "model": "varchar",
    "parameter": "varchar",
    "value": "double",
    "customers_fitted": "integer",
    "fitted_at": "timestamp",
}
BACKTEST_COLUMNS = {
    "frequency_bucket": "varchar",
    "customers": "integer",
    "calibration_start_date": "date",
    "calibration_end_date": "date",
    "holdout_end_date": "date",
    "holdout_days": "integer",
    "predicted_purchases": "double",
    "actual_purchases": "double",
    "predicted_revenue": "double",
    "actual_revenue": "double",
    "model_version": "varchar",
}
FIT_COLUMNS = {
    "model": "varchar",
    "purpose": "varchar",  # 'scoring' (every customer until the as-of date) or 'backtest' (the calibration period)
    "status": "varchar",  # converged, not_converged, skipped
    "customers_fitted": "integer",
    "max_gradient_per_customer": "double",
    "detail": "varchar",
    "fitted_at": "timestamp",
    "fitted_as_of": "date",  # the as-of date of the purchase days the parameters were fitted on
    # what the fit was given: purchase days, as-of time and model version; the same again = nothing to refit
    "input_fingerprint": "varchar",
}
TABLES = {PREDICTIONS_TABLE: PREDICTION_COLUMNS, PARAMETERS_TABLE: PARAMETER_COLUMNS,
          BACKTEST_TABLE: BACKTEST_COLUMNS, FITS_TABLE: FIT_COLUMNS}


QUIET_LOGGERS = ("pytensor", "pytensor.configdefaults", "pymc", "pymc_marketing")
ARVIZ_NOTICE = r"\s*ArviZ is undergoing a major refactor"


@contextmanager
def quiet_pymc() -> Iterator[None]:
    """PyTensor's BLAS warning (pip installs no optimised BLAS for it: it uses NumPy's, which is fine here), ArviZ's
    refactoring notice and PyMC's informational logs are nothing a user of `journey run` can act on."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


PREDICTION_IMPORTS = "pymc-marketing"


def import_in_background() -> threading.Thread:
    """Import PyMC-Marketing (4-6 s) in a thread (orchestration/lib/background.py). The dbt step starts it: while
    dbt's process builds, the run's process only waits for dbt's events, so the prediction step that follows finds
    the library imported instead of importing it then. Only PyTensor's and PyMC's loggers are quietened here (warning
    filters are process-wide, not a thread's to change); a failed import is left for the prediction step to raise."""
    def quiet_for_the_process() -> None:
        for name in QUIET_LOGGERS:  # for the process's life: restoring them could race the prediction step's
            logging.getLogger(name).setLevel(logging.ERROR)
        # ArviZ (imported by PyMC) prints its refactoring notice at the first import of each day on a machine (it
        # keeps a date stamp in the user's cache folder): a filter for that message alone, for the process's life
        warnings.filterwarnings("ignore", message=ARVIZ_NOTICE, category=FutureWarning)

    return start_imports(PREDICTION_IMPORTS, ["pymc_marketing.clv"], prepare=quiet_for_the_process)


# --- fitting ----------------------------------------------------------------------------------------------------

# PyTensor compiles the models' log-likelihood and gradient to C. Its on-disk cache of compiled code never serves a
# night: the keys hold constants of the night's data (the number of customers among them), so every fit compiles
# again, 15-20 s of a fit that takes 2-3 s on a small shop's customers (docs/prediction.md, "Compile or
# interpret"). Up to this many customers a fit skips the C compilation (PyTensor's FAST_COMPILE mode: NumPy
# evaluates each operation); above it the compiled code pays for itself: evaluating without it costs about 0.85 ms
# per customer and fit, against a fixed 15-20 s to compile (measured: even at 10k customers, 10 s against 19 s;
# at 467k, 400 s against 26 s).
INTERPRET_UP_TO_CUSTOMERS = 10_000


@contextmanager
def compile_mode(customers: int) -> Iterator[None]:
    """PyTensor's FAST_COMPILE mode for a fit on at most INTERPRET_UP_TO_CUSTOMERS customers, its default above."""
    if customers > INTERPRET_UP_TO_CUSTOMERS:
        yield
        return
    import pytensor

    with pytensor.config.change_flags(mode="FAST_COMPILE"):
        yield


@dataclass
class ModelFit:
    """One model fitted (or skipped): its parameters and how the optimiser ended."""

    model: str
    purpose: str
    customers_fitted: int
    parameters: dict[str, float] = field(default_factory=dict)
    converged: bool | None = None  # None: skipped (too few customers)
    max_gradient_per_customer: float | None = None
    detail: str = ""
    estimator: Any = None  # the fitted PyMC-Marketing model
    fitted_as_of: date | None = None  # the as-of date of the purchases it was fitted on

    @property
    def status(self) -> str:
        return "skipped" if self.converged is None else "converged" if self.converged else "not_converged"


def _flat_priors(names: tuple[str, ...]) -> dict[str, Any]:
    from pymc_extras.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def _max_gradient(estimator: Any, optimiser_result: Any = None) -> float:
    """The largest |d log posterior / d theta| at the fitted point, theta the optimiser's (log) coordinates: the
    gradient scipy's optimiser ended with when there is its result, else compiled and evaluated at the point."""
    if optimiser_result is not None and getattr(optimiser_result, "jac", None) is not None:
        gradient = np.asarray(optimiser_result.jac, dtype=float)
        return float(np.max(np.abs(gradient))) if np.all(np.isfinite(gradient)) else math.inf
    model = estimator.model
    posterior = estimator.idata.posterior
    point = {}
    for value_var in model.value_vars:
        rv = model.values_to_rvs[value_var]
        fitted = np.asarray(posterior[rv.name].values).reshape(-1)[0]
        transform = model.rvs_to_transforms.get(rv)
        point[value_var.name] = np.asarray(transform.forward(fitted, *rv.owner.inputs).eval() if transform else fitted,
                                            dtype=float)  # an interval transform needs the bounds: the inputs
    gradient = model.compile_dlogp(jacobian=False)(point)
    return float(np.max(np.abs(gradient))) if np.all(np.isfinite(gradient)) else math.inf


def _fit_map(estimator: Any, data: pd.DataFrame, maxeval: int) -> Any:
    """`estimator.fit(method="map")`, returning scipy's result of the optimisation too (None when there was none to
    keep: the optimiser stopped at its evaluation budget). PyMC's find_MAP keeps only the point; the result holds
    the gradient the optimiser ended with, which the convergence check needs and would otherwise compile a
    gradient function of its own for (a second or more per fit, most of a small warehouse's fit)."""
    import pymc.tuning.starting

    results = []
    minimize = pymc.tuning.starting.minimize

    def recorded(*args: Any, **kwargs: Any) -> Any:
        result = minimize(*args, **kwargs)
        results.append(result)
        return result

    with mock.patch.object(pymc.tuning.starting, "minimize", recorded):
        estimator.fit(data=data, method="map", progressbar=False, maxeval=maxeval)
    return results[-1] if len(results) == 1 else None


def _finish(fit: ModelFit, estimator: Any, names: tuple[str, ...], optimiser_result: Any = None) -> ModelFit:
    fit.estimator = estimator
    posterior = estimator.idata.posterior
    fit.parameters = {name: float(np.asarray(posterior[name].values).reshape(-1)[0]) for name in names}
    gradient = _max_gradient(estimator, optimiser_result)
    fit.max_gradient_per_customer = gradient / max(fit.customers_fitted, 1)
    finite = all(math.isfinite(v) and v > 0 for v in fit.parameters.values())
    fit.converged = bool(finite and fit.max_gradient_per_customer <= MAX_GRADIENT_PER_CUSTOMER)
    fit.detail = (f"largest gradient per customer {fit.max_gradient_per_customer:.3g} "
                  f"(converged at most {MAX_GRADIENT_PER_CUSTOMER:g})")
    return fit


def fit_bg_nbd(rfm: pd.DataFrame, purpose: str = "scoring", maxeval: int = 5000) -> ModelFit:
    """BG/NBD on customer_id, frequency, recency, T (days) by MAP with flat priors (the likelihood's maximum)."""
    fit = ModelFit(BG_NBD, purpose, len(rfm))
    repeat = int((rfm["frequency"] > 0).sum()) if len(rfm) else 0
    if repeat < MIN_REPEAT_BUYERS:
        fit.detail = f"{repeat} customers with a repeat purchase; a fit needs {MIN_REPEAT_BUYERS}"
        return fit
    with quiet_pymc(), compile_mode(len(rfm)):
        from pymc_marketing.clv import BetaGeoModel

        data = rfm[["customer_id", "frequency", "recency", "T"]]
        estimator = BetaGeoModel(model_config=_flat_priors(BG_NBD_PARAMETERS))
        _finish(fit, estimator, BG_NBD_PARAMETERS, _fit_map(estimator, data, maxeval))
        if fit.converged:
            return fit
        # No finite maximum: when the purchases carry no evidence that the dropout probability varies between
        # customers, the likelihood keeps rising as a and b grow together (a / (a + b), the mean dropout
        # probability, stays put), and the optimiser stops somewhere along that ridge (a = 1.7e22 on a 60-day
        # backtest of 3,047 customers). Fitted again with PyMC-Marketing's default prior on the dropout
        # process: a = phi * kappa, b = (1 - phi) * kappa, phi ~ Uniform(0, 1), kappa ~ Pareto(1, 1), which
        # keeps kappa = a + b finite and leaves the mean dropout probability to the data.
        unbounded = fit.detail
        regularised = ModelFit(BG_NBD, purpose, len(rfm))
        estimator = BetaGeoModel(model_config=_dropout_prior())
        _finish(regularised, estimator, BG_NBD_PARAMETERS, _fit_map(estimator, data, maxeval))
        regularised.detail = (f"{regularised.detail}; with kappa = a + b ~ Pareto(1, 1), because the maximum "
                              f"likelihood fit had no finite optimum ({unbounded}; a = {fit.parameters.get('a', 0):.3g}"
                              f", b = {fit.parameters.get('b', 0):.3g})")
        if regularised.converged:
            return regularised
        # The purchase process can have the same ridge: when the purchases carry no evidence that customers buy at
        # different rates, the likelihood keeps rising as r and alpha grow together (r / alpha, the mean purchase
        # rate, stays put; r = 1.2e11 on a 21-day backtest calibration of 13,883 customers at 60,000 people), and
        # the prior on the dropout process alone does not stop it (r = 4.9e28 there). Fitted again with
        # PyMC-Marketing's default priors on both processes, which keep r and alpha finite too.
        bounded = ModelFit(BG_NBD, purpose, len(rfm))
        estimator = BetaGeoModel(model_config=_default_priors())
        _finish(bounded, estimator, BG_NBD_PARAMETERS, _fit_map(estimator, data, maxeval))
        bounded.detail = (f"{bounded.detail}; with PyMC-Marketing's default priors (r ~ Weibull(2, 1), alpha ~ "
                          f"Weibull(2, 10), kappa = a + b ~ Pareto(1, 1)), because neither the maximum likelihood fit "
                          f"({unbounded}; r = {fit.parameters.get('r', 0):.3g}, alpha = "
                          f"{fit.parameters.get('alpha', 0):.3g}, a = {fit.parameters.get('a', 0):.3g}, b = "
                          f"{fit.parameters.get('b', 0):.3g}) nor the fit with a prior on the dropout process alone had "
                          f"a finite optimum")
        return bounded


def _dropout_prior() -> dict[str, Any]:
    """Flat priors on the purchase process (r, alpha); PyMC-Marketing's default prior on the dropout process."""
    from pymc_extras.prior import Prior

    return {"r": Prior("HalfFlat"), "alpha": Prior("HalfFlat"), "phi_dropout": Prior("Uniform", lower=0, upper=1),
            "kappa_dropout": Prior("Pareto", alpha=1, m=1)}


def _default_priors() -> dict[str, Any]:
    """PyMC-Marketing's default priors of BetaGeoModel (0.19), written out so that a new release of the library does
    not change this model unseen: on the purchase process r ~ Weibull(2, 1) and alpha ~ Weibull(2, 10) (days), on
    the dropout process as _dropout_prior."""
    from pymc_extras.prior import Prior

    return {"r": Prior("Weibull", alpha=2, beta=1), "alpha": Prior("Weibull", alpha=2, beta=10),
            "phi_dropout": Prior("Uniform", lower=0, upper=1), "kappa_dropout": Prior("Pareto", alpha=1, m=1)}


def gamma_gamma_input(rfm: pd.DataFrame) -> pd.DataFrame:
    """Gamma-Gamma is fitted on the customers with a repeat purchase (their mean repeat purchase value)."""
    rows = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    return rows[["customer_id", "frequency", "monetary_value"]]


def fit_gamma_gamma(rfm: pd.DataFrame, purpose: str = "scoring", maxeval: int = 5000) -> ModelFit:
    data = gamma_gamma_input(rfm)
    fit = ModelFit(GAMMA_GAMMA, purpose, len(data))
    if len(data) < MIN_REPEAT_BUYERS:
        fit.detail = f"{len(data)} customers with a repeat purchase; a fit needs {MIN_REPEAT_BUYERS}"
        return fit
    with quiet_pymc(), compile_mode(len(data)):
        from pymc_marketing.clv import GammaGammaModel

        estimator = GammaGammaModel(model_config=_flat_priors(GAMMA_GAMMA_PARAMETERS))
        return _finish(fit, estimator, GAMMA_GAMMA_PARAMETERS, _fit_map(estimator, data, maxeval))


# --- scoring ----------------------------------------------------------------------------------------------------


def summarise(purchases: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per customer: frequency (repeat purchase days), recency (days from the first to the last purchase), T (days
    from the first purchase to the as-of date), monetary_value (mean value of the repeat purchases, 0 without)."""
    from pymc_marketing.clv import rfm_summary

    if purchases.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             (("customer_id", "object"), ("frequency", "float"), ("recency", "float"),
                              ("T", "float"), ("monetary_value", "float"))})
    with quiet_pymc():
        return rfm_summary(purchases, "customer_id", "purchase_date", monetary_value_col="revenue_amount",
                           observation_period_end=pd.Timestamp(as_of), time_unit="D")


def _values(array: Any) -> np.ndarray:
    """A PyMC-Marketing prediction (dims chain, draw, customer_id; one draw for a MAP fit) as one value per customer."""
    values = np.asarray(array.values if hasattr(array, "values") else array, dtype=float)
    return values.reshape(-1, values.shape[-1]).mean(axis=0) if values.ndim > 1 else values


def expected_purchases(bg: ModelFit, rfm: pd.DataFrame, days: float) -> np.ndarray:
    data = rfm[["customer_id", "frequency", "recency", "T"]].assign(future_t=float(days))
    with quiet_pymc():
        return _values(bg.estimator.expected_purchases(data=data))


def expected_spend(gg: ModelFit, rfm: pd.DataFrame) -> np.ndarray:
    """Gamma-Gamma's expected value of a customer's next purchase: a one-time buyer gets the population mean."""
    data = rfm[["customer_id", "frequency", "monetary_value"]]
    with quiet_pymc():
        return _values(gg.estimator.expected_customer_spend(data=data))


def score(bg: ModelFit, gg: ModelFit, rfm: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """One row per customer of `rfm` (PREDICTION_COLUMNS); no row when a model was not fitted."""
    if bg.estimator is None or gg.estimator is None or rfm.empty:
        return empty_frame(PREDICTION_COLUMNS)
    data = rfm[["customer_id", "frequency", "recency", "T"]]
    with quiet_pymc():
        p_alive = _values(bg.estimator.expected_probability_alive(data=data))
    out = pd.DataFrame({
        "customer_id": rfm["customer_id"].astype(str).to_numpy(),
        "as_of_date": pd.Timestamp(as_of).date(),
        "frequency": rfm["frequency"].round().astype(int).to_numpy(),
        "recency_days": rfm["recency"].round().astype(int).to_numpy(),
        "tenure_days": rfm["T"].round().astype(int).to_numpy(),
        "monetary_value": rfm["monetary_value"].astype(float).to_numpy(),
        "p_alive": np.clip(p_alive, 0.0, 1.0),
    })
    for days in HORIZONS_DAYS:
        out[f"expected_purchases_{days}d"] = expected_purchases(bg, rfm, days)
    out["expected_avg_order_value"] = expected_spend(gg, rfm)
    out["expected_revenue_365d"] = out["expected_purchases_365d"] * out["expected_avg_order_value"]
    out["model_version"] = model_version()
    return out[list(PREDICTION_COLUMNS)]


def model_version() -> str:
    return f"{MODEL_VERSION} (pymc-marketing {version('pymc-marketing')}, MAP)"


def parameter_rows(fits: list[ModelFit], fitted_at: datetime) -> pd.DataFrame:
    rows = [(f.model, name, value, f.customers_fitted, fitted_at) for f in fits for name, value in f.parameters.items()]
    return pd.DataFrame(rows, columns=list(PARAMETER_COLUMNS)) if rows else empty_frame(PARAMETER_COLUMNS)


def fit_rows(fits: list[ModelFit], fitted_at: datetime, fingerprint: str = "") -> pd.DataFrame:
    rows = [(f.model, f.purpose, f.status, f.customers_fitted, f.max_gradient_per_customer, f.detail, fitted_at,
             f.fitted_as_of, fingerprint) for f in fits]
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS)) if rows else empty_frame(FIT_COLUMNS)


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="object") for name in columns})


# --- backtest ---------------------------------------------------------------------------------------------------


def holdout_days(first_purchase: date, as_of: date) -> int:
    span = (as_of - first_purchase).days
    return min(BACKTEST_MAX_HOLDOUT_DAYS, int(span * BACKTEST_HOLDOUT_SHARE))


def frequency_bucket(frequency: pd.Series) -> pd.Series:
    top = BACKTEST_BUCKETS - 1
    return frequency.round().astype(int).map(lambda f: f"{top}+" if f >= top else str(f))


def backtest(purchases: pd.DataFrame, as_of: date) -> tuple[pd.DataFrame, list[ModelFit]]:
    """Fit both models on the purchases up to the calibration end (as-of less the holdout), predict each calibration
    customer's holdout purchases and revenue, and compare with what they did (customers whose first purchase is in
    the holdout are not in it, as in the literature). Per calibration frequency bucket and in total."""
    if purchases.empty:
        return empty_frame(BACKTEST_COLUMNS), []
    first = pd.Timestamp(min(purchases["purchase_date"])).date()
    days = holdout_days(first, as_of)
    if days < MIN_BACKTEST_HOLDOUT_DAYS:
        skipped = ModelFit(BG_NBD, "backtest", 0, detail=f"{(as_of - first).days} days of history: a backtest needs "
                                                         f"a holdout of {MIN_BACKTEST_HOLDOUT_DAYS} days or more")
        return empty_frame(BACKTEST_COLUMNS), [skipped]
    calibration_end = as_of - timedelta(days=days)
    with quiet_pymc():
        from pymc_marketing.clv import rfm_train_test_split

        try:
            split = rfm_train_test_split(purchases, "customer_id", "purchase_date", train_period_end=calibration_end,
                                         test_period_end=as_of, monetary_value_col="revenue_amount", time_unit="D")
        except ValueError as exc:  # no purchase in the calibration or the holdout period
            skipped = ModelFit(BG_NBD, "backtest", 0, detail=f"no backtest: {exc}".replace("\n", " "))
            return empty_frame(BACKTEST_COLUMNS), [skipped]
    bg = fit_bg_nbd(split, "backtest")
    gg = fit_gamma_gamma(split, "backtest")
    if bg.estimator is None or gg.estimator is None:
        return empty_frame(BACKTEST_COLUMNS), [bg, gg]
    predicted = expected_purchases(bg, split, days)
    rows = pd.DataFrame({
        "frequency_bucket": frequency_bucket(split["frequency"]).to_numpy(),
        "predicted_purchases": predicted,
        "actual_purchases": split["test_frequency"].astype(float).to_numpy(),
        "predicted_revenue": predicted * expected_spend(gg, split),
        "actual_revenue": (split["test_frequency"] * split["test_monetary_value"]).astype(float).to_numpy(),
    })
    grouped = rows.groupby("frequency_bucket").agg(
        customers=("predicted_purchases", "size"), predicted_purchases=("predicted_purchases", "sum"),
        actual_purchases=("actual_purchases", "sum"), predicted_revenue=("predicted_revenue", "sum"),
        actual_revenue=("actual_revenue", "sum")).reset_index()
    total = pd.DataFrame([{"frequency_bucket": TOTAL_BUCKET, "customers": len(rows),
                           **{c: rows[c].sum() for c in ("predicted_purchases", "actual_purchases",
                                                         "predicted_revenue", "actual_revenue")}}])
    out = pd.concat([grouped, total], ignore_index=True)
    out["calibration_start_date"] = first
    out["calibration_end_date"] = calibration_end
    out["holdout_end_date"] = as_of
    out["holdout_days"] = days
    out["model_version"] = model_version()
    return out[list(BACKTEST_COLUMNS)], [bg, gg]


# --- the step ---------------------------------------------------------------------------------------------------


@dataclass
class PredictionResult:
    """What one prediction step wrote."""

    as_of: date | None
    customers: int
    fits: list[ModelFit]
    backtest: pd.DataFrame
    reused: bool = False  # the input was what the tables were fitted on: they were kept as they were
    refitted: bool = True  # False: every customer scored with the stored parameters (no fit, the backtest kept)
    parameters_as_of: date | None = None  # the as-of date the scoring parameters were fitted on

    def fit(self, model: str, purpose: str = "scoring") -> ModelFit | None:
        return next((f for f in self.fits if f.model == model and f.purpose == purpose), None)


def read_purchase_days(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, date | None]:
    frame = con.execute(f"select customer_id, purchase_date, cast(revenue_amount as double) as revenue_amount, "
                        f"as_of_at from {PURCHASE_DAYS_TABLE} order by customer_id, purchase_date").df()
    if frame.empty:
        return frame[["customer_id", "purchase_date", "revenue_amount"]], None
    as_of = pd.Timestamp(frame["as_of_at"].iloc[0]).date()
    frame["purchase_date"] = pd.to_datetime(frame["purchase_date"])
    return frame[["customer_id", "purchase_date", "revenue_amount"]], as_of


def predict(purchases: pd.DataFrame, as_of: date | None, with_backtest: bool = True,
            rfm: pd.DataFrame | None = None) -> tuple[pd.DataFrame, list[ModelFit], pd.DataFrame]:
    """Fit on every customer's purchase days until `as_of`, score them, and backtest: (predictions, fits, backtest).
    `rfm`: summarise(purchases, as_of) when the caller has it already."""
    if as_of is None or purchases.empty:
        empty = [ModelFit(BG_NBD, "scoring", 0, detail="no purchases yet"),
                 ModelFit(GAMMA_GAMMA, "scoring", 0, detail="no purchases yet")]
        return empty_frame(PREDICTION_COLUMNS), empty, empty_frame(BACKTEST_COLUMNS)
    history = (as_of - pd.Timestamp(min(purchases["purchase_date"])).date()).days
    if history < MIN_HISTORY_DAYS:
        detail = f"{history} days of purchase history; a fit needs {MIN_HISTORY_DAYS}"
        short = [ModelFit(BG_NBD, "scoring", 0, detail=detail), ModelFit(GAMMA_GAMMA, "scoring", 0, detail=detail)]
        return empty_frame(PREDICTION_COLUMNS), short, empty_frame(BACKTEST_COLUMNS)
    rfm = summarise(purchases, as_of) if rfm is None else rfm
    bg, gg = fit_bg_nbd(rfm), fit_gamma_gamma(rfm)
    predictions = score(bg, gg, rfm, as_of)
    tested, backtest_fits = backtest(purchases, as_of) if with_backtest else (empty_frame(BACKTEST_COLUMNS), [])
    return predictions, [bg, gg, *backtest_fits], tested


def create_tables_sql(replace: bool) -> str:
    """DDL of the output tables (the schemas are created too)."""
    verb = "create or replace table" if replace else "create table if not exists"
    statements = ["create schema if not exists marts", "create schema if not exists ops"]
    for table, columns in TABLES.items():
        statements.append(f"{verb} {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    return ";\n".join(statements) + ";"


def write(con: duckdb.DuckDBPyConnection, predictions: pd.DataFrame, parameters: pd.DataFrame,
          tested: pd.DataFrame, fits: pd.DataFrame) -> None:
    """Replace the four tables in one transaction (typed as TABLES says, whatever pandas inferred)."""
    con.execute("begin transaction")
    try:
        con.execute(create_tables_sql(replace=True))
        for table, frame in ((PREDICTIONS_TABLE, predictions), (PARAMETERS_TABLE, parameters),
                             (BACKTEST_TABLE, tested), (FITS_TABLE, fits)):
            if frame.empty:
                continue
            columns = TABLES[table]
            con.register("_frame", frame[list(columns)])
            con.execute(f"insert into {table} select {', '.join(f'cast({c} as {t})' for c, t in columns.items())} "
                        f"from _frame")
            con.unregister("_frame")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def input_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the purchase days, the as-of time and the model version: equal inputs fit equal models."""
    rows, digest, as_of = con.execute(
        f"select count(*), coalesce(sum(hash(customer_id, purchase_date, revenue_amount)), 0), max(as_of_at) "
        f"from {PURCHASE_DAYS_TABLE}").fetchone()
    return f"{rows}:{digest}:{as_of}:{model_version()}"


@dataclass
class StoredFits:
    """The fit and parameter rows, and the backtest, as a previous run of the step wrote them."""

    fits: list[ModelFit]
    fingerprints: set[str]
    parameters: pd.DataFrame
    backtest: pd.DataFrame
    fitted_at: datetime | None


def stored_fits(con: duckdb.DuckDBPyConnection) -> StoredFits | None:
    """What the tables hold (None when a table or a column of this version is missing: fit again)."""
    try:
        rows = con.execute(f"select model, purpose, status, customers_fitted, max_gradient_per_customer, detail, "
                           f"fitted_at, fitted_as_of, input_fingerprint from {FITS_TABLE}").fetchall()
        parameters = con.execute(f"select * from {PARAMETERS_TABLE}").df()
        tested = con.execute(f"select * from {BACKTEST_TABLE}").df()
    except duckdb.Error:
        return None
    fits, fitted_at = [], set()
    for model, purpose, status, customers, gradient, detail, fitted_when, fitted_as_of, _ in rows:
        fitted_at.add(fitted_when)
        fit = ModelFit(model, purpose, customers or 0, converged=None if status == "skipped" else status == "converged",
                       max_gradient_per_customer=gradient, detail=detail, fitted_as_of=fitted_as_of)
        if purpose == "scoring":
            fit.parameters = {name: float(value) for name, value in
                              parameters.loc[parameters["model"] == model, ["parameter", "value"]].itertuples(index=False)}
        fits.append(fit)
    return StoredFits(fits, {row[-1] for row in rows}, parameters, tested, max(fitted_at, default=None))


def kept(con: duckdb.DuckDBPyConnection, fingerprint: str, previous: StoredFits | None) -> PredictionResult | None:
    """The tables as they are (`previous`, from stored_fits), when they were fitted on exactly this input (a rerun,
    a night without purchases)."""
    if previous is None or previous.fingerprints != {fingerprint}:
        return None
    customers, as_of = con.execute(f"select count(*), max(as_of_date) from {PREDICTIONS_TABLE}").fetchone()
    scoring = next((f for f in previous.fits if f.purpose == "scoring"), None)
    return PredictionResult(as_of, customers, previous.fits, previous.backtest, reused=True,
                            parameters_as_of=scoring.fitted_as_of if scoring else None)


def refit_days() -> int:
    """JOURNEY_PREDICTION_REFIT_DAYS: refit when the parameters are this many days old (in as-of dates); 0 refits
    every run."""
    value = os.environ.get(REFIT_DAYS_ENV, "").strip()
    if not value:
        return DEFAULT_REFIT_DAYS
    days = int(value) if value.isdigit() else -1
    if days < 0:
        raise ValueError(f"{REFIT_DAYS_ENV}={value!r} is not a whole number of days: 0 refits the models every run, "
                         f"{DEFAULT_REFIT_DAYS} (the default) when their parameters are a week old")
    return days


def reusable_scoring(previous: StoredFits | None, as_of: date, customers: int, days: int) -> tuple[
        ModelFit, ModelFit] | None:
    """The stored scoring fits, when they may score this run's customers: both converged, of this model version,
    fitted on an as-of date fewer than `days` days before `as_of` (not after it: a backfill of older dates refits),
    on a number of customers within REFIT_CUSTOMER_DRIFT of this run's."""
    if previous is None or days <= 0 or not all(fp.endswith(model_version()) for fp in previous.fingerprints):
        return None
    scoring = {f.model: f for f in previous.fits if f.purpose == "scoring"}
    bg, gg = scoring.get(BG_NBD), scoring.get(GAMMA_GAMMA)
    if bg is None or gg is None or not (bg.converged and gg.converged):
        return None
    if set(bg.parameters) != set(BG_NBD_PARAMETERS) or set(gg.parameters) != set(GAMMA_GAMMA_PARAMETERS):
        return None
    if any(f.fitted_as_of is None or not 0 <= (as_of - f.fitted_as_of).days < days for f in (bg, gg)):
        return None
    if abs(customers - bg.customers_fitted) > REFIT_CUSTOMER_DRIFT * bg.customers_fitted:
        return None
    return bg, gg


def with_stored_parameters(fit: ModelFit, rfm: pd.DataFrame) -> ModelFit:
    """`fit` with a PyMC-Marketing model that predicts from its stored parameters (no fit: the model's graph is
    built and its posterior is the one point, as a MAP fit leaves it)."""
    import arviz as az
    import xarray as xr

    with quiet_pymc():
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

        if fit.model == BG_NBD:
            names, estimator = BG_NBD_PARAMETERS, BetaGeoModel(model_config=_flat_priors(BG_NBD_PARAMETERS))
            estimator.build_model(rfm[["customer_id", "frequency", "recency", "T"]])
        else:
            names, estimator = GAMMA_GAMMA_PARAMETERS, GammaGammaModel(model_config=_flat_priors(GAMMA_GAMMA_PARAMETERS))
            estimator.build_model(gamma_gamma_input(rfm))
        estimator.idata = az.InferenceData(posterior=xr.Dataset(
            {name: (("chain", "draw"), np.array([[fit.parameters[name]]])) for name in names}))
    return replace(fit, estimator=estimator)


def run_prediction(con: duckdb.DuckDBPyConnection, now: datetime | None = None,
                   refit_every_days: int | None = None) -> PredictionResult:
    """The prediction step on an open (writable) build file: read, fit, score, backtest, write. When the purchase
    days, the as-of time and the model version are those the tables were fitted on, they are kept as they are (a
    rerun changes nothing, and costs no fit). Between refits (`refit_every_days`, default JOURNEY_PREDICTION_REFIT_DAYS;
    see reusable_scoring) every customer is scored with the stored parameters and the backtest is kept."""
    wait_for_imports(PREDICTION_IMPORTS)  # the dbt step's import of PyMC-Marketing, if it started one
    days = refit_days() if refit_every_days is None else refit_every_days
    fingerprint = input_fingerprint(con)
    previous = stored_fits(con)
    unchanged = kept(con, fingerprint, previous)
    if unchanged is not None and (days > 0 or unchanged.parameters_as_of == unchanged.as_of):
        return unchanged  # (with refits every run, a rerun of a night scored with older parameters fits)
    fitted_at = (now or datetime.now(UTC)).replace(tzinfo=None, microsecond=0)
    purchases, as_of = read_purchase_days(con)
    rfm = summarise(purchases, as_of) if as_of is not None else None
    reusable = reusable_scoring(previous, as_of, len(rfm), days) if rfm is not None and previous else None
    if reusable is not None:
        bg, gg = (with_stored_parameters(fit, rfm) for fit in reusable)
        predictions = score(bg, gg, rfm, as_of)
        fits = fit_rows(previous.fits, previous.fitted_at or fitted_at, fingerprint)
        write(con, predictions, previous.parameters, previous.backtest, fits)
        return PredictionResult(as_of, len(predictions), previous.fits, previous.backtest, refitted=False,
                                parameters_as_of=bg.fitted_as_of)
    predictions, fits, tested = predict(purchases, as_of, rfm=rfm)
    for fit in fits:
        fit.fitted_as_of = as_of
    scoring = [f for f in fits if f.purpose == "scoring"]
    write(con, predictions, parameter_rows(scoring, fitted_at), tested, fit_rows(fits, fitted_at, fingerprint))
    return PredictionResult(as_of, len(predictions), fits, tested, parameters_as_of=as_of)
