"""Publishing: the checked build file becomes the warehouse readers see, in one atomic step."""


import dagster as dg

from orchestration.defs.dbt.assets import mart_keys
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.publish import publish
from rules.contract import SOURCES

PUBLISH_KEY = dg.AssetKey(["publish", "warehouse"])


RAW_KEYS = [dg.AssetKey(["raw", name]) for name in SOURCES]


@dg.asset(key=PUBLISH_KEY, deps=[*RAW_KEYS, *mart_keys()], group_name="publish", kinds={"duckdb"})
def published_warehouse(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Runs only when every mart and blocking check upstream succeeded; keeps the previous version for rollback."""
    result = publish(warehouse.build, warehouse.published)
    context.log.info(f"published {warehouse.published} (previous kept at {result.previous})")
    return dg.MaterializeResult(metadata={"published": str(warehouse.published), "previous": str(result.previous)})
