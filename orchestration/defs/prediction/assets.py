"""The prediction step: BG/NBD and Gamma-Gamma fitted on every customer's purchase days, on the run's build file,
after the marts it reads and before customer_360 and the publish step (orchestration/lib/prediction.py,
docs/prediction.md). Its gates are the blocking checks customer_predictions_quality and
prediction_model_parameters_quality (orchestration/defs/quality/checks.py)."""

import time

import dagster as dg

from orchestration.defs.resources import WarehouseResource

PREDICTIONS_KEY = dg.AssetKey(["marts", "customer_predictions"])
PARAMETERS_KEY = dg.AssetKey(["marts", "prediction_model_parameters"])
BACKTEST_KEY = dg.AssetKey(["marts", "prediction_backtest"])
PREDICTION_KEYS = (PREDICTIONS_KEY, PARAMETERS_KEY, BACKTEST_KEY)
# What the step reads: the purchase days (dbt), and the customers they belong to.
PURCHASE_DAYS_KEY = dg.AssetKey(["intermediate", "int_customers__purchase_days"])
CUSTOMERS_KEY = dg.AssetKey(["marts", "dim_customers"])
DEPS = [PURCHASE_DAYS_KEY, CUSTOMERS_KEY]


@dg.multi_asset(
    name="predict_purchases",
    specs=[
        dg.AssetSpec(PREDICTIONS_KEY, deps=DEPS, group_name="prediction", kinds={"duckdb", "python"},
                     description="One row per customer with a purchase: p_alive, expected purchases (30/90/365 days), "
                                 "expected purchase value and revenue over 365 days (BG/NBD + Gamma-Gamma)."),
        dg.AssetSpec(PARAMETERS_KEY, deps=DEPS, group_name="prediction", kinds={"duckdb", "python"},
                     description="The fitted parameters: BG/NBD r, alpha (days), a, b; Gamma-Gamma p, q, v."),
        dg.AssetSpec(BACKTEST_KEY, deps=DEPS, group_name="prediction", kinds={"duckdb", "python"},
                     description="The models fitted on a calibration period against the holdout period, per "
                                 "calibration frequency and in total."),
    ],
)
def predict_purchases(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    from orchestration.lib.prediction import BG_NBD, GAMMA_GAMMA, REFIT_DAYS_ENV, TOTAL_BUCKET, refit_days, run_prediction

    started = time.monotonic()
    con = warehouse.connect_build()
    try:
        result = run_prediction(con)
    finally:
        con.close()
    seconds = round(time.monotonic() - started, 2)
    if not result.refitted:
        context.log.info(f"scored {result.customers:,} customers as of {result.as_of} with the parameters fitted as of "
                         f"{result.parameters_as_of} (refitted every {refit_days()} days: {REFIT_DAYS_ENV})")
    for fit in result.fits:
        (context.log.info if fit.converged is not False else context.log.error)(
            f"{fit.model} ({fit.purpose}): {fit.status} on {fit.customers_fitted:,} customers; {fit.detail}")
    parameters = {f"{fit.model}.{name}": round(value, 6) for model in (BG_NBD, GAMMA_GAMMA)
                  if (fit := result.fit(model)) is not None for name, value in fit.parameters.items()}
    total = result.backtest[result.backtest["frequency_bucket"] == TOTAL_BUCKET]
    backtest = {} if total.empty else {
        "backtest_predicted_purchases": round(float(total["predicted_purchases"].iloc[0]), 1),
        "backtest_actual_purchases": round(float(total["actual_purchases"].iloc[0]), 1),
        "backtest_holdout_days": int(total["holdout_days"].iloc[0]),
    }
    yield dg.MaterializeResult(asset_key=PREDICTIONS_KEY, metadata={
        "customers": dg.MetadataValue.int(result.customers), "as_of": str(result.as_of), "seconds": seconds,
        "parameters_as_of": str(result.parameters_as_of), "refitted": result.refitted})
    yield dg.MaterializeResult(asset_key=PARAMETERS_KEY, metadata={
        "parameters": dg.MetadataValue.json(parameters),
        "fits": dg.MetadataValue.json({f"{f.model}.{f.purpose}": f.status for f in result.fits})})
    yield dg.MaterializeResult(asset_key=BACKTEST_KEY, metadata=backtest)
