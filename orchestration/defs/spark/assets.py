"""The Spark engine's nightly job (`JOURNEY_ENGINE=spark dagster dev`): the steps of `journey run --engine spark`
(orchestration/spark_run.py) as four assets, partitioned by export date like the DuckDB job's raw assets.

    spark/books -> spark/raw -> spark/models -> spark/published

`spark/books` has Spark's executors read the new files of the run's export dates (the rows staged, the books kept)
and judges them with the raw gates (a failed gate fails it, and nothing downstream runs); `spark/raw` appends the
staged rows to Spark's tables and keeps the books;
`spark/models` builds a new generation with dbt-spark; `spark/published` runs the prediction step and the mart gates
and points the readers' views at the generation when they pass (else it fails and the views stay). The resource
`warehouse` names the Spark warehouse folder (its `warehouse_path`) and the landing folder.
"""

# No `from __future__ import annotations`: Dagster inspects the `context` annotation at definition time.

import warnings
from pathlib import Path

import dagster as dg

from orchestration.defs.partitions import dates_in
from orchestration.defs.resources import WarehouseResource
from orchestration.runner import RunSummary

BOOKS_KEY = dg.AssetKey(["spark", "books"])
RAW_KEY = dg.AssetKey(["spark", "raw"])
MODELS_KEY = dg.AssetKey(["spark", "models"])
PUBLISHED_KEY = dg.AssetKey(["spark", "published"])


class SparkModelsConfig(dg.Config):
    full_refresh: bool = False  # build the incremental models from raw (`journey run --engine spark --full-refresh`)


def _run(context: dg.AssetExecutionContext, warehouse: WarehouseResource, step: str, action):
    """One step of a SparkRun on the resource's folders; its processes' output goes to logs/dagster-<step>.log."""
    from orchestration.spark_run import SparkRun, SparkSetupError, StepFailed, check_java, spark_python

    folder = warehouse.published
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    summary = RunSummary(context.run_id, success=False, published=False, warehouse=folder)
    summary.log_file = folder / "logs" / f"dagster-{step}.log"
    try:
        python = spark_python()
        check_java()
    except SparkSetupError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    with summary.log_file.open("w", encoding="utf-8") as log:
        try:
            result = action(SparkRun(warehouse.landing, folder, python, summary, log))
        except StepFailed as exc:
            gates = [f"{c.name}: {c.detail}" for c in summary.checks if not c.passed]
            raise dg.Failure(description=f"{exc}" + "".join(f"\n{g}" for g in gates) +
                             "".join(f"\n{f}" for f in summary.failures), allow_retries=False) from exc
    return summary, result


def spark_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    with warnings.catch_warnings():  # single-run backfills are deliberate (orchestration/defs/ingest/assets.py)
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        return _spark_assets(partitions_def)


def _spark_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    common = {"group_name": "spark", "kinds": {"spark"}, "partitions_def": partitions_def,
              "backfill_policy": dg.BackfillPolicy.single_run()}

    @dg.asset(key=BOOKS_KEY, description="The pending erasures (journey forget) applied to Spark's raw tables; the "
              "new export files of the run's dates read by Spark's executors (the DuckDB pipeline's ingestion code: the "
              "contract's rules and books), their rows staged and judged by the raw gates.", **common)
    def spark_books(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        summary, _ = _run(context, warehouse, "books", lambda run: (run.erase(), run.ingest(dates_in(context))))
        return dg.MaterializeResult(metadata={
            "sources": dg.MetadataValue.md(_books_table(summary)),
            "raw_gates_passed": sum(c.passed for c in summary.checks)})

    @dg.asset(key=RAW_KEY, deps=[BOOKS_KEY], description="The night's staged raw and quarantined rows appended to "
              "Spark's raw.<source> and quarantine.<source> (a partition per load); the books keep the registry.", **common)
    def spark_raw(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        _run(context, warehouse, "raw", lambda run: (run.ship(), run.keep_books()))
        return dg.MaterializeResult()

    @dg.asset(key=MODELS_KEY, deps=[RAW_KEY], description="Every dbt model built on Spark into a new generation of "
              "schemas (marts__g<N>).", **common)
    def spark_models(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     config: SparkModelsConfig) -> dg.MaterializeResult:
        from orchestration.spark_run import dbt_run_args, next_generation

        generation = next_generation(warehouse.published)
        _run(context, warehouse, "models", lambda run: (run.dbt(["seed"], generation),
                                                        run.dbt(dbt_run_args(config.full_refresh), generation)))
        return dg.MaterializeResult(metadata={"generation": generation})

    @dg.asset(key=PUBLISHED_KEY, deps=[MODELS_KEY], description="Prediction and mart gates on the new generation; "
              "the readers' views marts.<table> point at it when every gate passed.", **common)
    def spark_published(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        generation = _last_generation(warehouse.published)
        summary, _ = _run(context, warehouse, "published", lambda run: run.finish(generation))
        return dg.MaterializeResult(metadata={
            "generation": generation, "customers": summary.customers, "touchpoints": summary.touchpoints,
            "mart_gates": dg.MetadataValue.md("\n".join(f"- {c.name}: {c.detail}" for c in summary.checks))})

    return [spark_books, spark_raw, spark_models, spark_published]


def _last_generation(folder: Path) -> int:
    path = folder / "last_generation"
    if not path.exists():
        raise dg.Failure(description=f"{folder}: no generation built yet (materialize spark/models first)")
    return int(path.read_text().strip())


def _books_table(summary: RunSummary) -> str:
    lines = ["| source | new files | read | loaded | quarantined |", "|---|---|---|---|---|"]
    lines += [f"| {s} | {files} | {read} | {loaded} | {quarantined} |"
              for s, files, read, loaded, quarantined in summary.sources]
    return "\n".join(lines)
