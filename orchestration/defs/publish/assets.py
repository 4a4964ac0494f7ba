"""Publishing: the checked build file becomes the warehouse readers see, in one atomic step."""


import dagster as dg

from orchestration.defs.dbt.assets import mart_keys
from orchestration.defs.prediction.assets import PREDICTION_KEYS
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.publish import publish
from orchestration.lib.warehouse import connect
from rules.contract import SOURCES

PUBLISH_KEY = dg.AssetKey(["publish", "warehouse"])


RAW_KEYS = [dg.AssetKey(["raw", name]) for name in SOURCES]


@dg.asset(key=PUBLISH_KEY, deps=[*RAW_KEYS, *mart_keys(), *PREDICTION_KEYS], group_name="publish", kinds={"duckdb"})
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Runs only when every mart and blocking check upstream succeeded; compacts the build file when too many of
    its blocks are free (JOURNEY_COMPACT_FREE_SHARE); keeps the previous version for rollback."""
    if not warehouse.published.exists():
        refuse_empty_first_publish(warehouse)
    result = publish(warehouse.build, warehouse.published)
    compaction = result.compaction
    (context.log.warning if compaction.error else context.log.info)(f"build file {compaction}")
    context.log.info(str(result.bi))
    context.log.info(f"published {warehouse.published} (previous kept at {result.previous})")
    return dg.MaterializeResult(metadata={
        "published": str(warehouse.published), "previous": str(result.previous),
        "compaction": str(compaction), "compacted": compaction.compacted,
        "free_share_before": round(compaction.before.free_share, 4),
        "compact_seconds": round(compaction.seconds, 2), "compact_cpu_seconds": round(compaction.cpu_seconds, 2),
        "published_bytes": dg.MetadataValue.int(warehouse.published.stat().st_size),
        "bi_file": str(result.bi), "bi_file_updated": result.bi.updated,
    })


def refuse_empty_first_publish(warehouse: WarehouseResource) -> None:
    """A first run that loaded no file publishes nothing: an empty warehouse that passed every check is a wrong
    landing folder or a missing delivery, not a result."""
    con = connect(str(warehouse.build), read_only=True)
    try:
        files = con.execute("select count(*) from ops.loaded_files").fetchone()[0]
    finally:
        con.close()
    if files == 0:
        raise dg.Failure(
            description=f"nothing published: this first run loaded no export file from {warehouse.landing} "
            "(its source folders hold no export files of the run's dates); check the landing folder",
            allow_retries=False,
        )
