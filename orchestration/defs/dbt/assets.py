"""dbt models as Dagster assets: keys are [schema, model] and groups follow the dbt folder."""


import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.defs.dbt.project import dbt_project


class JourneyTranslator(DagsterDbtTranslator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id)
        if node is None or node.get("resource_type") not in ("model", "seed", "snapshot"):
            return spec
        schema = node.get("config", {}).get("schema") or node.get("schema")
        layer = node["fqn"][1] if node.get("resource_type") == "model" and len(node["fqn"]) > 2 else "reference"
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


@dbt_assets(manifest=dbt_project().manifest_path, project=dbt_project(), dagster_dbt_translator=TRANSLATOR)
def journey_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    yield from dbt.cli(dbt_build_args(config.full_refresh), context=context).stream()


def mart_keys() -> list[dg.AssetKey]:
    """Every dbt model in the marts schema (what publishing waits for)."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    keys = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] == "model" and node["config"].get("schema") == "marts":
            keys.append(TRANSLATOR.get_asset_spec(manifest, unique_id, dbt_project()).key)
    return sorted(keys, key=lambda k: k.to_user_string())
