"""dbt models as Dagster assets: keys are [schema, model] and groups follow the dbt folder."""


import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project
from orchestration.defs.resources import DBT_BUILD_FILE_ENV, WarehouseResource, scoped_environment
from orchestration.lib.customer_ids import CUSTOMER_ID_KEY_ENV, has_legacy_customer_ids, key_for_warehouse
from orchestration.lib.privacy import erasure_marker
from orchestration.lib.warehouse import SCOPED_TESTS_ENV, take_fresh_build_marker


def reads_at_query_time(node: Mapping[str, Any]) -> set[dg.AssetKey]:
    """Sources a view reads when it is queried, not when dbt creates it (model config `meta.journey.
    reads_at_query_time`, a list of asset keys). customer_360 is such a view of the predictions, which the prediction
    step writes after the dbt build: in Dagster's graph the view does not wait for them (with the dependency the dbt
    build would run in two steps around the prediction); its gate does (orchestration/defs/quality/checks.py)."""
    meta = node.get("config", {}).get("meta") or node.get("meta") or {}
    return {dg.AssetKey(list(key)) for key in meta.get("journey", {}).get("reads_at_query_time", [])}


class JourneyTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id)
        if node is None or node.get("resource_type") not in ("model", "seed", "snapshot"):
            return spec
        schema = node.get("config", {}).get("schema") or node.get("schema")
        layer = node["fqn"][1] if node.get("resource_type") == "model" and len(node["fqn"]) > 2 else "reference"
        if late := reads_at_query_time(node):
            spec = spec.replace_attributes(deps=[d for d in spec.deps if d.asset_key not in late])
        return spec.replace_attributes(key=dg.AssetKey([schema, node["name"]]), group_name=layer)


TRANSLATOR = JourneyTranslator()


class DbtBuildConfig(dg.Config):
    """Run config of the dbt step (`journey run --full-refresh`, or the launchpad of `dagster dev`)."""

    full_refresh: bool = False  # rebuild the incremental journey models from scratch (the id map never is)


def dbt_build_args(full_refresh: bool = False) -> list[str]:
    """Nightly runs build models, seeds and data tests; dbt unit tests belong to the test suite, not to runs.

    With full_refresh, dbt rebuilds every incremental model from scratch (after a change of journey rules or
    sessionisation vars), except the persistent ones (`full_refresh=false`: the customer id map and the merge log)."""
    return ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if full_refresh else [])]


def _build(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
           config: DbtBuildConfig):
    # dbt learns the file to build from its environment (profiles.yml); the variable is set for its process only.
    # Its artifacts and log stay beside the warehouse, where the next build of the same file finds its parse state.
    # Its log file keeps dbt's info lines (what ran, how long, errors): the debug lines (every SQL statement and its
    # time) cost about a tenth of dbt's CPU; DBT_LOG_LEVEL_FILE=debug brings them back for profiling.
    # The customer-id key (derived from the privacy key, created with it on a new warehouse's first run) reaches dbt
    # the same way, for its process only: dbt's DuckDB plugin sets it as session variables, so it is in no file dbt
    # or Dagster writes (orchestration/lib/customer_ids.py).
    # The uniqueness tests read the keys the build wrote only on the first dbt build of a freshly started build file
    # (orchestration/lib/warehouse.py, SCOPED_TESTS_ENV); a step run again on the same file tests whole tables.
    with scoped_environment(**{DBT_BUILD_FILE_ENV: str(warehouse.build),
                               CUSTOMER_ID_KEY_ENV: key_for_warehouse(warehouse.published),
                               SCOPED_TESTS_ENV: take_fresh_build_marker(warehouse.build),
                               "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE") or "info"}):
        # a build that applied an erasure rebuilds every model from what is left (docs/privacy.md); so does the
        # build that re-keys the md5 ids of an older version (every model holding a customer id gets the new ones)
        rekeying = has_legacy_customer_ids(warehouse.build)
        if rekeying:
            context.log.info("the customer id map holds md5 ids of an older version: this build re-keys them "
                             "(customer_merges change_type 'rekey') and rebuilds every model")
        full_refresh = config.full_refresh or erasure_marker(warehouse.build).exists() or rekeying
        invocation = dbt.cli(dbt_build_args(full_refresh), context=context, target_path=warehouse.dbt_target)
    from orchestration.lib.prediction import import_in_background

    import_in_background()  # the prediction step's library, while this process waits for dbt
    yield from invocation.stream()


@dbt_assets(manifest=dbt_project().manifest_path, project=dbt_project(), dagster_dbt_translator=TRANSLATOR)
def journey_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource,
                       config: DbtBuildConfig):
    yield from _build(context, dbt, warehouse, config)


DBT_ASSETS = (journey_dbt_models,)
DBT_STEPS = tuple(a.op.name for a in DBT_ASSETS)


def mart_keys() -> list[dg.AssetKey]:
    """Every dbt model in the marts schema (what publishing waits for), from the dbt assets' own specs."""
    keys = (key for assets in DBT_ASSETS for key in assets.keys if key.path[0] == "marts")
    return sorted(keys, key=lambda k: k.to_user_string())
