"""The prediction step (orchestration/lib/prediction.py): parameters recovered from buyers simulated with known
parameters (generator/buyers.py), the backtest against a holdout, one-time buyers, the gates, and the tables on
the shared sample warehouse.

PyTensor compiles the models' C code once per machine (about 30 s, cached in ~/.pytensor); later fits of the same
models take seconds.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from generator.buyers import BuyerParameters, period_end, simulate_buyers
from orchestration.lib import prediction
from orchestration.lib.prediction import (
    BG_NBD,
    GAMMA_GAMMA,
    MAX_GRADIENT_PER_CUSTOMER,
    PREDICTION_COLUMNS,
    TOTAL_BUCKET,
    fit_bg_nbd,
    fit_gamma_gamma,
    predict,
    summarise,
)
from tests.helpers import ROOT, query, resource_for

TRUE = BuyerParameters(r=0.8, alpha=40.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0)
CUSTOMERS, DAYS, START = 4000, 365, date(2024, 1, 1)


@pytest.fixture(scope="module")
def simulated() -> pd.DataFrame:
    return simulate_buyers(CUSTOMERS, DAYS, TRUE, seed=3, start=START)


@pytest.fixture(scope="module")
def fitted(simulated):
    as_of = period_end(DAYS, START)
    rfm = summarise(simulated, as_of)
    return rfm, fit_bg_nbd(rfm), fit_gamma_gamma(rfm)


def log_standard_errors(fit: prediction.ModelFit) -> dict[str, float]:
    """Standard errors of log(parameter) at the maximum likelihood: the inverse of the observed information (minus
    the Hessian of the log likelihood, from the library's own PyMC model, in its log coordinates)."""
    model = fit.estimator.model
    point, names = {}, []
    for value_var in model.value_vars:
        rv = model.values_to_rvs[value_var]
        names.append(rv.name)
        point[value_var.name] = np.asarray(math.log(fit.parameters[rv.name]))
    hessian = np.asarray(model.compile_d2logp(jacobian=False, negate_output=False)(point))
    information = -hessian  # positive definite at a maximum
    covariance = np.linalg.inv(information)
    return {name: float(math.sqrt(covariance[i, i])) for i, name in enumerate(names)}


# --- validation on simulated buyers ----------------------------------------------------------------------------


def test_simulated_buyers_follow_the_story(simulated):
    """The generator's output is what int_customers__purchase_days holds: one row per customer and day, positive
    values, every customer with a first purchase inside the period."""
    assert not simulated.duplicated(["customer_id", "purchase_date"]).any()
    assert simulated["customer_id"].nunique() == CUSTOMERS
    assert (simulated["revenue_amount"] > 0).all()
    assert simulated["purchase_date"].min() >= pd.Timestamp(START)
    assert simulated["purchase_date"].max() <= pd.Timestamp(period_end(DAYS, START))
    # Deterministic for a seed
    pd.testing.assert_frame_equal(simulated, simulate_buyers(CUSTOMERS, DAYS, TRUE, seed=3, start=START))


@pytest.mark.parametrize("model", [BG_NBD, GAMMA_GAMMA])
def test_fit_recovers_the_simulated_parameters(fitted, model):
    """Each parameter within 4 standard errors of the truth, on the log scale (the estimator is asymptotically
    normal there; 4 SE leaves a 1-in-15,000 chance per parameter of a false alarm for an unbiased fit). The
    standard errors come from this fit's observed information, and must themselves be small (under 0.2 on the
    log scale, i.e. the tolerance is at most a factor of 2.2) for the test to be able to fail. The daily
    counting of purchases (two on one day are one) is a small bias the tolerance absorbs at these purchase rates
    (a mean of one purchase per 50 days)."""
    _, bg, gg = fitted
    fit = bg if model == BG_NBD else gg
    truth = TRUE.bg_nbd() if model == BG_NBD else TRUE.gamma_gamma()
    assert fit.converged, fit.detail
    assert fit.max_gradient_per_customer <= MAX_GRADIENT_PER_CUSTOMER
    errors = log_standard_errors(fit)
    for name, true_value in truth.items():
        estimate, se = fit.parameters[name], errors[name]
        assert se < 0.2, f"{model}.{name}: standard error {se:.3f} on the log scale: the test could not fail"
        z = (math.log(estimate) - math.log(true_value)) / se
        assert abs(z) <= 4, f"{model}.{name}: fitted {estimate:.4g}, true {true_value:g}, {z:+.1f} standard errors"


def test_small_fits_are_interpreted_and_large_ones_compiled():
    """PyTensor's C compilation costs 15-20 s a night whatever the size (its cache keys hold the data's constants):
    a fit on up to INTERPRET_UP_TO_CUSTOMERS customers runs in FAST_COMPILE mode (the fits above, on 4,000
    simulated customers, show it still recovers the parameters), a larger one in the default, compiled mode."""
    import pytensor

    default = pytensor.config.mode
    assert default != "FAST_COMPILE"
    with prediction.compile_mode(prediction.INTERPRET_UP_TO_CUSTOMERS):
        assert pytensor.config.mode == "FAST_COMPILE"
    assert pytensor.config.mode == default
    with prediction.compile_mode(prediction.INTERPRET_UP_TO_CUSTOMERS + 1):
        assert pytensor.config.mode == default
    assert CUSTOMERS <= prediction.INTERPRET_UP_TO_CUSTOMERS  # so the recovery test above runs interpreted


def test_the_library_imported_in_the_background_is_there_for_the_step(tmp_path):
    """The dbt step imports PyMC-Marketing in a thread (orchestration/defs/dbt/assets.py): in a fresh process the
    thread ends with the library imported and PyTensor's logger quiet (its BLAS warning is nothing a user can act
    on), without a word on stderr. The process gets a new cache folder: ArviZ prints its refactoring notice at the
    first import of a day on a machine (a date stamp in the user's cache), as on a fresh machine or after midnight."""
    code = ("import logging, sys\n"
            "from orchestration.lib.prediction import import_in_background\n"
            "assert 'pymc_marketing.clv' not in sys.modules\n"
            "import_in_background().join()\n"
            "assert 'pymc_marketing.clv' in sys.modules\n"
            "assert logging.getLogger('pytensor.configdefaults').getEffectiveLevel() == logging.ERROR\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    assert list((tmp_path / "cache").glob("arviz/daily_warning")), "ArviZ wrote no date stamp: the case is not exercised"


def test_a_fit_stopped_early_is_not_converged(fitted):
    """Fault injection: the optimiser gets 3 evaluations instead of 5,000; the fit must say it did not converge."""
    rfm, bg, _ = fitted
    stopped = fit_bg_nbd(rfm, maxeval=3)
    assert stopped.converged is False and stopped.status == "not_converged", stopped.detail
    assert stopped.max_gradient_per_customer > MAX_GRADIENT_PER_CUSTOMER


def test_the_convergence_check_takes_the_gradient_the_optimiser_ended_with(fitted):
    """The check reads the gradient from scipy's result of PyMC's optimisation instead of compiling a gradient
    function of its own: both must be the same number, and the result must be there (a PyMC that no longer calls
    scipy's minimize through pymc.tuning.starting would silently fall back to the slower compiled gradient)."""
    rfm, _, _ = fitted
    with prediction.quiet_pymc():
        from pymc_marketing.clv import GammaGammaModel

        estimator = GammaGammaModel(model_config=prediction._flat_priors(prediction.GAMMA_GAMMA_PARAMETERS))
        result = prediction._fit_map(estimator, prediction.gamma_gamma_input(rfm), 5000)
        assert result is not None and result.jac is not None
        compiled = prediction._max_gradient(estimator)
    assert prediction._max_gradient(estimator, result) == pytest.approx(compiled, rel=1e-6, abs=1e-9)


def first_fits_stop_short(monkeypatch, short: int) -> list[int]:
    """Stop the first `short` fits of fit_bg_nbd after 5 evaluations (so that its fallbacks run on every machine);
    the list it returns fills with each fit's evaluation budget."""
    fit_map, budgets = prediction._fit_map, []

    def stopping_short(estimator, data, maxeval):
        budgets.append(5 if len(budgets) < short else maxeval)
        return fit_map(estimator, data, budgets[-1])

    monkeypatch.setattr(prediction, "_fit_map", stopping_short)
    return budgets


def test_a_likelihood_without_a_finite_maximum_is_fitted_with_the_default_dropout_prior(monkeypatch):
    """A 60-day backtest of a generated shop (3,047 customers, their frequency, recency and T as the step computed
    them) carries no evidence that the dropout probability varies between customers: the likelihood keeps rising
    as a and b grow together, with a / (a + b), the mean dropout probability, fixed (0.34 here). Where the
    optimiser stops on that ridge depends on the machine's arithmetic: a and b near 1e22 with a gradient far from
    zero on one machine (not converged: this used to stop the night), near 1e5 with a gradient small enough to
    count as converged on another (a fit the step keeps, as good as any point of the ridge). When it does not
    converge, the step fits again with kappa = a + b ~ Pareto(1, 1): converged, finite, and the same mean dropout
    probability as the ridge within a few points.

    The flat fit is stopped after a few evaluations here, so the fallback runs on every machine. Compiled, as a
    shop above INTERPRET_UP_TO_CUSTOMERS is fitted."""
    monkeypatch.setattr(prediction, "INTERPRET_UP_TO_CUSTOMERS", 0)
    rfm = pd.read_csv(ROOT / "tests" / "data" / "bg_nbd_without_dropout_heterogeneity.csv.gz")
    flat = prediction.ModelFit(BG_NBD, "backtest", len(rfm))
    with prediction.quiet_pymc():
        from pymc_marketing.clv import BetaGeoModel

        ridge = BetaGeoModel(model_config=prediction._flat_priors(prediction.BG_NBD_PARAMETERS))
        ridge.fit(data=rfm, method="map", progressbar=False, maxeval=5000)
    prediction._finish(flat, ridge, prediction.BG_NBD_PARAMETERS)
    # the ridge: a and b far beyond what any customer's purchases could estimate (a well-posed fit of this
    # backtest would give a and b of order 1)
    assert min(flat.parameters["a"], flat.parameters["b"]) > 1e4, f"the fixture has no ridge: {flat.parameters}"

    budgets = first_fits_stop_short(monkeypatch, 1)  # the flat fit
    fit = fit_bg_nbd(rfm, "backtest")
    assert len(budgets) == 2, "a flat fit that did not converge is fitted again"
    assert fit.status == "converged", fit.detail
    assert "Pareto(1, 1)" in fit.detail and "no finite optimum" in fit.detail
    a, b = fit.parameters["a"], fit.parameters["b"]
    assert all(math.isfinite(v) and 0 < v < 1e3 for v in fit.parameters.values()), fit.parameters
    assert a / (a + b) == pytest.approx(flat.parameters["a"] / (flat.parameters["a"] + flat.parameters["b"]), abs=0.05)
    assert np.all(np.isfinite(prediction.expected_purchases(fit, rfm, 20)))


def test_a_purchase_process_without_a_finite_maximum_is_fitted_with_the_default_priors(monkeypatch):
    """A backtest of a generated shop of 60,000 people on 30 days of history (a 21-day calibration of 13,883
    customers, their frequency, recency and T as the step computed them, ids renumbered) carries no evidence that
    customers buy at different rates either: the flat fit runs up the ridge r, alpha -> infinity with r / alpha,
    the mean purchase rate, fixed (0.026 a day), and the fit with a prior on the dropout process alone runs up it
    too (r = 4.9e28: this stopped a full build of `published_size_series.py --people 60000 --nights 6`, the
    backtest's fit not converged). The step then fits with PyMC-Marketing's default priors on both processes:
    converged, finite, about the same mean purchase rate.

    The first two fits are stopped after a few evaluations, so the third runs on every machine."""
    monkeypatch.setattr(prediction, "INTERPRET_UP_TO_CUSTOMERS", 10**6)  # interpreted: no C compilation
    rfm = pd.read_csv(ROOT / "tests" / "data" / "bg_nbd_without_purchase_heterogeneity.csv.gz")
    flat = prediction.ModelFit(BG_NBD, "backtest", len(rfm))
    with prediction.quiet_pymc(), prediction.compile_mode(len(rfm)):
        from pymc_marketing.clv import BetaGeoModel

        ridge = BetaGeoModel(model_config=prediction._flat_priors(prediction.BG_NBD_PARAMETERS))
        ridge.fit(data=rfm, method="map", progressbar=False, maxeval=5000)
    prediction._finish(flat, ridge, prediction.BG_NBD_PARAMETERS)
    # the ridge: r and alpha far beyond anything 21 days of purchases could estimate
    assert min(flat.parameters["r"], flat.parameters["alpha"]) > 1e4, f"the fixture has no ridge: {flat.parameters}"
    ridge_rate = flat.parameters["r"] / flat.parameters["alpha"]

    budgets = first_fits_stop_short(monkeypatch, 2)  # the flat fit and the one with the dropout prior
    fit = fit_bg_nbd(rfm, "backtest")
    assert len(budgets) == 3, "a fit with the dropout prior that did not converge is fitted again"
    assert fit.status == "converged", fit.detail
    assert "default priors" in fit.detail and "Weibull" in fit.detail
    assert all(math.isfinite(v) and 0 < v < 1e3 for v in fit.parameters.values()), fit.parameters
    assert fit.parameters["r"] / fit.parameters["alpha"] == pytest.approx(ridge_rate, rel=0.2)
    assert np.all(np.isfinite(prediction.expected_purchases(fit, rfm, 20)))


def test_backtest_totals_match_the_holdout(simulated):
    """Fitted on the first two thirds of the year, the models predict the last third's purchases and revenue of
    the calibration customers. Holdout purchases are a sum over 4,000 customers (about 3,500 here; predicted 3% fewer):
    its sampling error is a few percent and the parameter error a few more, so 15% is a wide margin that a wrong horizon, a wrong
    time unit or counting first purchases as repeats (each off by 30% and more) would still break."""
    tested, fits = prediction.backtest(simulated, period_end(DAYS, START))
    assert [f.status for f in fits] == ["converged", "converged"]
    total = tested.set_index("frequency_bucket").loc[TOTAL_BUCKET]
    assert total["holdout_days"] == DAYS // 3
    assert total["actual_purchases"] > 500
    assert total["predicted_purchases"] == pytest.approx(total["actual_purchases"], rel=0.15)
    assert total["predicted_revenue"] == pytest.approx(total["actual_revenue"], rel=0.15)
    buckets = tested[tested["frequency_bucket"] != TOTAL_BUCKET]
    assert buckets["customers"].sum() == total["customers"]
    assert buckets["actual_purchases"].sum() == pytest.approx(total["actual_purchases"])
    assert list(buckets["frequency_bucket"])[:3] == ["0", "1", "2"]


def test_one_time_buyers_get_the_models_values_not_nulls(fitted):
    rfm, bg, gg = fitted
    scored = prediction.score(bg, gg, rfm, period_end(DAYS, START))
    assert list(scored.columns) == list(PREDICTION_COLUMNS) and len(scored) == CUSTOMERS
    assert not scored.drop(columns=["monetary_value"]).isna().any().any()
    once = scored[scored["frequency"] == 0]
    assert len(once) > 100
    # BG/NBD: nobody drops out before a repeat purchase, so a one-time buyer is alive with probability 1
    assert (once["p_alive"] == 1.0).all()
    # Gamma-Gamma: with no repeat purchase, the population's mean purchase value p v / (q - 1)
    mean_value = gg.parameters["p"] * gg.parameters["v"] / (gg.parameters["q"] - 1)
    assert np.allclose(once["expected_avg_order_value"], mean_value)
    assert (scored["p_alive"].between(0, 1)).all()
    assert (scored["expected_purchases_30d"] <= scored["expected_purchases_90d"]).all()
    assert (scored["expected_purchases_90d"] <= scored["expected_purchases_365d"]).all()
    assert np.allclose(scored["expected_revenue_365d"],
                       scored["expected_purchases_365d"] * scored["expected_avg_order_value"])


def test_hand_computed_summary_counts_purchase_days():
    """Two purchases on one day are one purchase (values summed); recency and tenure in days from the first."""
    purchases = pd.DataFrame({
        "customer_id": ["c1", "c1", "c1", "c2"],
        "purchase_date": pd.to_datetime(["2026-01-01", "2026-01-11", "2026-01-31", "2026-01-21"]),
        "revenue_amount": [10.0, 30.0, 50.0, 20.0],
    })
    rfm = summarise(purchases, date(2026, 2, 10)).set_index("customer_id")
    assert rfm.loc["c1"].to_dict() == {"frequency": 2.0, "recency": 30.0, "T": 40.0, "monetary_value": 40.0}
    assert rfm.loc["c2"].to_dict() == {"frequency": 0.0, "recency": 0.0, "T": 20.0, "monetary_value": 0.0}


def test_too_few_repeat_buyers_fit_nothing_and_write_empty_tables(tmp_path):
    """A new warehouse's first nights: no model, empty tables, the fits recorded as skipped (no gate fails)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        con.execute("create schema intermediate; create table intermediate.int_customers__purchase_days as "
                    "select 'c1' as customer_id, date '2026-01-01' as purchase_date, 1 as purchases_count, "
                    "cast(10 as decimal(18, 2)) as revenue_amount, timestamp '2026-02-01' as as_of_at")
        result = prediction.run_prediction(con)
        assert result.customers == 0 and result.fit(BG_NBD).status == "skipped"
        assert con.execute("select count(*) from marts.customer_predictions").fetchone() == (0,)
        statuses = {row[0] for row in con.execute("select status from ops.prediction_fits").fetchall()}
        assert statuses == {"skipped"}
        # the same input again: the tables are kept as they are, no fit
        fitted_at = con.execute("select fitted_at from ops.prediction_fits").fetchall()
        again = prediction.run_prediction(con)
        assert again.reused and con.execute("select fitted_at from ops.prediction_fits").fetchall() == fitted_at
        # a new purchase day: fitted again
        con.execute("insert into intermediate.int_customers__purchase_days values "
                    "('c1', date '2026-01-05', 1, 5, timestamp '2026-02-01')")
        assert not prediction.run_prediction(con).reused
    finally:
        con.close()
    predictions, fits, tested = predict(pd.DataFrame(columns=["customer_id", "purchase_date", "revenue_amount"]),
                                        None)
    assert predictions.empty and tested.empty and {f.status for f in fits} == {"skipped"}


def test_a_short_history_fits_nothing(simulated):
    """Twelve days of a year's buyers (a new warehouse; the fault and incremental tests' baselines): skipped, not
    a diverged fit that would block publishing."""
    short = simulated[simulated["purchase_date"] < pd.Timestamp(START) + pd.Timedelta(days=12)]
    predictions, fits, _ = predict(short, date(2024, 1, 12))
    assert predictions.empty and {f.status for f in fits} == {"skipped"}
    assert "12 days of purchase history" in fits[0].detail or "days of purchase history" in fits[0].detail


def test_dbt_creates_the_predictions_table_as_the_step_writes_it():
    """dbt's on-run-start hook on DuckDB (macros/prediction_tables.sql) and prediction.PREDICTION_COLUMNS agree."""
    macro = (ROOT / "dbt_project" / "macros" / "prediction_tables.sql").read_text()
    body = macro.split("{% macro default__create_prediction_tables() %}")[1].split("{% endmacro %}")[0]
    con = duckdb.connect()
    try:
        con.execute(body)
        columns = {name: kind.lower() for name, kind in
                   con.execute("select column_name, data_type from information_schema.columns "
                               "where table_name = 'customer_predictions' order by ordinal_position").fetchall()}
    finally:
        con.close()
    assert columns == PREDICTION_COLUMNS
    assert re.search(r"create table if not exists", body)


# --- the gate blocks publishing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("broken", [False, True])
def test_a_prediction_that_fails_its_gate_blocks_publishing(tmp_path: Path, fitted, broken: bool) -> None:
    """The real step on simulated purchases; broken: the step's fit did not converge (injected by a budget of 3
    optimiser evaluations), so prediction_model_parameters_quality fails and publishing does not happen."""
    from orchestration.defs.quality.checks import mart_checks

    build = tmp_path / "journey.duckdb.build"
    rfm = fitted[0]
    purchases = simulate_buyers(600, 240, TRUE, seed=5, start=START)
    con = duckdb.connect(str(build))
    try:
        con.execute("create schema intermediate; create schema marts")
        con.register("p", purchases)
        con.execute("create table intermediate.int_customers__purchase_days as select customer_id, "
                    "cast(purchase_date as date) as purchase_date, 1 as purchases_count, revenue_amount, "
                    f"timestamp '{period_end(240, START)}' as as_of_at from p")
        con.execute("create table marts.dim_customers as select distinct customer_id from p")
    finally:
        con.close()
    del rfm

    original = prediction.fit_bg_nbd

    @dg.asset(key=dg.AssetKey(["marts", "dim_customers"]))
    def dim_customers() -> None:
        return None

    @dg.multi_asset(specs=[dg.AssetSpec(["marts", "customer_predictions"], deps=[dim_customers]),
                           dg.AssetSpec(["marts", "prediction_model_parameters"], deps=[dim_customers])])
    def predict_step():
        fit = (lambda rfm, purpose="scoring": original(rfm, purpose, maxeval=3)) if broken else original
        prediction.fit_bg_nbd = fit
        try:
            con = duckdb.connect(str(build))
            try:
                prediction.run_prediction(con)
            finally:
                con.close()
        finally:
            prediction.fit_bg_nbd = original
        yield dg.MaterializeResult(asset_key=dg.AssetKey(["marts", "customer_predictions"]))
        yield dg.MaterializeResult(asset_key=dg.AssetKey(["marts", "prediction_model_parameters"]))

    @dg.asset(key=dg.AssetKey(["publish", "warehouse"]), deps=[dg.AssetKey(["marts", "customer_predictions"]),
                                                            dg.AssetKey(["marts", "prediction_model_parameters"])])
    def published() -> None:
        return None

    checks = mart_checks(marts=["customer_predictions", "prediction_model_parameters"])
    result = dg.materialize([dim_customers, predict_step, published, *checks], raise_on_error=False,
                            resources={"warehouse": resource_for(build)})
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    evaluations = dict((e.check_name, e.passed) for e in result.get_asset_check_evaluations())
    assert evaluations == {"customer_predictions_quality": True, "prediction_model_parameters_quality": not broken}
    assert (dg.AssetKey(["publish", "warehouse"]) in materialized) is not broken


# --- the sample warehouse -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sample_predictions_cover_every_buyer_and_reach_customer_360(sample_build):
    warehouse = sample_build.warehouse
    buyers = query(warehouse, "select count(distinct customer_id) from intermediate.int_customers__purchase_days")[0][0]
    rows, nulls, one_time_alive = query(warehouse, """
        select count(*), count(*) filter (where p_alive is null or expected_revenue_365d is null),
               bool_and(p_alive = 1) filter (where frequency = 0)
        from marts.customer_predictions""")[0]
    assert rows == buyers > 500 and nulls == 0 and one_time_alive
    fits = query(warehouse, "select model, purpose, status from ops.prediction_fits order by all")
    assert {(m, s) for m, _, s in fits} == {(BG_NBD, "converged"), (GAMMA_GAMMA, "converged")}
    parameters = query(warehouse, "select model, parameter from marts.prediction_model_parameters order by all")
    assert parameters == sorted([(BG_NBD, p) for p in ("r", "alpha", "a", "b")] +
                                [(GAMMA_GAMMA, p) for p in ("p", "q", "v")])
    # customer_360 carries the predictions: the same p_alive, a tier for every buyer, none for non-buyers
    mismatched, untiered, tiered_non_buyers = query(warehouse, """
        select count(*) filter (where c.p_alive is distinct from p.p_alive),
               count(*) filter (where p.customer_id is not null and c.value_tier is null),
               count(*) filter (where p.customer_id is null and c.value_tier is not null)
        from marts.customer_360 as c left join marts.customer_predictions as p using (customer_id)""")[0]
    assert (mismatched, untiered, tiered_non_buyers) == (0, 0, 0)
    # segments only with personalization consent
    assert query(warehouse, "select count(*) from marts.customer_360 "
                            "where value_segment is not null and not personalization_consent")[0][0] == 0
    total = query(warehouse, "select customers, predicted_purchases, actual_purchases from marts.prediction_backtest "
                             "where frequency_bucket = 'total'")
    assert len(total) == 1 and total[0][0] > 100


# --- refits -----------------------------------------------------------------------------------------------------


def write_purchase_days(con: duckdb.DuckDBPyConnection, purchases: pd.DataFrame, as_of: date) -> None:
    """int_customers__purchase_days as dbt leaves it on the night of `as_of` (the purchases until that day)."""
    con.execute("create schema if not exists intermediate")
    con.register("p", purchases[purchases["purchase_date"] <= pd.Timestamp(as_of)])
    con.execute("create or replace table intermediate.int_customers__purchase_days as select customer_id, "
                "cast(purchase_date as date) as purchase_date, 1 as purchases_count, revenue_amount, "
                f"timestamp '{as_of}' as as_of_at from p")
    con.unregister("p")


def test_nights_between_refits_score_every_customer_with_the_stored_parameters(tmp_path, simulated):
    """The first night fits; the next night (one more day of purchases) scores every customer with the stored
    parameters and keeps the parameters, fit rows and backtest; a week after a fit the models are fitted again.
    The scores of the night between equal those the first night's fitted models (not models rebuilt from the stored
    numbers) give for that night's purchase summary."""
    fit_day = period_end(300, START)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        write_purchase_days(con, simulated, fit_day)
        first = prediction.run_prediction(con, refit_every_days=7)
        assert first.refitted and first.parameters_as_of == fit_day and first.fit(BG_NBD).converged
        stored = {table: con.execute(f"select * from {table} order by all").fetchall()
                  for table in (prediction.PARAMETERS_TABLE, prediction.BACKTEST_TABLE)}
        fit_rows = con.execute("select model, purpose, status, fitted_at, fitted_as_of from ops.prediction_fits "
                               "order by all").fetchall()
        assert {row[4] for row in fit_rows} == {fit_day} and len(fit_rows) == 4  # scoring and backtest, both models

        night = fit_day + timedelta(days=1)
        write_purchase_days(con, simulated, night)
        second = prediction.run_prediction(con, refit_every_days=7)
        assert not second.refitted and not second.reused and second.parameters_as_of == fit_day
        assert {table: con.execute(f"select * from {table} order by all").fetchall() for table in stored} == stored
        assert con.execute("select model, purpose, status, fitted_at, fitted_as_of from ops.prediction_fits "
                           "order by all").fetchall() == fit_rows
        scored = con.execute("select * from marts.customer_predictions order by customer_id").df()
        rfm = summarise(simulated[simulated["purchase_date"] <= pd.Timestamp(night)], night)
        expected = prediction.score(first.fit(BG_NBD), first.fit(GAMMA_GAMMA), rfm, night)
        expected = expected.sort_values("customer_id").reset_index(drop=True)
        assert len(scored) == len(rfm) == first.customers and set(scored["as_of_date"].dt.date) == {night}
        numeric = [c for c, t in PREDICTION_COLUMNS.items() if t == "double"]
        np.testing.assert_allclose(scored[numeric].to_numpy(float), expected[numeric].to_numpy(float), rtol=1e-9)
        # a rerun of that night keeps the tables
        assert prediction.run_prediction(con, refit_every_days=7).reused
        # with refits every run, the same night is fitted on its own purchases
        refitted = prediction.run_prediction(con, refit_every_days=0)
        assert refitted.refitted and refitted.parameters_as_of == night

        six_days_later, week_later = night + timedelta(days=6), night + timedelta(days=7)
        write_purchase_days(con, simulated, six_days_later)
        assert not prediction.run_prediction(con, refit_every_days=7).refitted
        write_purchase_days(con, simulated, week_later)
        assert prediction.run_prediction(con, refit_every_days=7).refitted
        assert {row[0] for row in con.execute("select fitted_as_of from ops.prediction_fits").fetchall()} == {week_later}
    finally:
        con.close()


def stored_fits(fitted_as_of: date, customers: int = 1000, converged: bool = True) -> prediction.StoredFits:
    bg = prediction.ModelFit(BG_NBD, "scoring", customers, dict.fromkeys(prediction.BG_NBD_PARAMETERS, 1.0),
                             converged=converged, fitted_as_of=fitted_as_of)
    gg = prediction.ModelFit(GAMMA_GAMMA, "scoring", customers // 2, dict.fromkeys(prediction.GAMMA_GAMMA_PARAMETERS, 1.0),
                             converged=True, fitted_as_of=fitted_as_of)
    return prediction.StoredFits([bg, gg], {f"1:2:3:{prediction.model_version()}"}, pd.DataFrame(), pd.DataFrame(), None)


@pytest.mark.parametrize(("case", "as_of", "customers", "days", "reused"), [
    ("a day after the fit", date(2026, 3, 2), 1000, 7, True),
    ("six days after", date(2026, 3, 7), 1000, 7, True),
    ("seven days after: a week old", date(2026, 3, 8), 1000, 7, False),
    ("refits every run", date(2026, 3, 2), 1000, 0, False),
    ("a backfill before the fit's as-of date", date(2026, 2, 27), 1000, 7, False),
    ("10% more customers", date(2026, 3, 2), 1100, 7, True),
    ("more than 10% more customers", date(2026, 3, 2), 1101, 7, False),
    ("more than 10% fewer customers (an erasure)", date(2026, 3, 2), 899, 7, False),
])
def test_when_the_stored_parameters_score_a_night(case, as_of, customers, days, reused):
    """Hand-computed cases of prediction.reusable_scoring: fitted as of 2026-03-01 on 1,000 customers."""
    assert (prediction.reusable_scoring(stored_fits(date(2026, 3, 1)), as_of, customers, days) is not None) is reused, case


def test_parameters_that_did_not_converge_or_of_another_version_are_never_reused():
    not_converged = stored_fits(date(2026, 3, 1), converged=False)
    assert prediction.reusable_scoring(not_converged, date(2026, 3, 2), 1000, 7) is None
    other_version = stored_fits(date(2026, 3, 1))
    other_version.fingerprints = {"1:2:3:bg_nbd+gamma_gamma/0 (pymc-marketing 0.1, MAP)"}
    assert prediction.reusable_scoring(other_version, date(2026, 3, 2), 1000, 7) is None
    older_table = stored_fits(None)  # a table written before fitted_as_of existed
    assert prediction.reusable_scoring(older_table, date(2026, 3, 2), 1000, 7) is None


@pytest.mark.parametrize("value", ["-1", "weekly", "1.5"])
def test_a_refit_setting_that_is_not_a_number_of_days_is_refused(monkeypatch, value):
    monkeypatch.setenv(prediction.REFIT_DAYS_ENV, value)
    with pytest.raises(ValueError, match="JOURNEY_PREDICTION_REFIT_DAYS"):
        prediction.refit_days()
    monkeypatch.setenv(prediction.REFIT_DAYS_ENV, "")
    assert prediction.refit_days() == prediction.DEFAULT_REFIT_DAYS
