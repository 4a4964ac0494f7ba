"""Rules that two tools must hold alike, where they cannot read one file: pinned together here."""

import ast
import csv
import json
import re
from pathlib import Path

import yaml

from expectations.mart_integrity import SPECS, mart_spec
from orchestration.defs.quality.checks import MART_CHECKS
from rules.contract import SOURCES
from rules.journeys import ATTRIBUTION_MODELS, DATA_DRIVEN_ATTRIBUTION_MODELS
from rules.thresholds import MARTS
from tests.helpers import DBT_DIR, ROOT


def test_staging_enum_seed_lists_exactly_the_contract_enums():
    """dbt maps unknown enum values to 'other' from seed staging_enum_values; ingestion records them as field issues
    from the contract. Both must know the same values, or a value would be 'other' in one and fine in the other."""
    with (DBT_DIR / "seeds" / "staging" / "staging_enum_values.csv").open(newline="", encoding="utf-8") as handle:
        seed = {(row["source"], row["column_name"], row["value"]) for row in csv.DictReader(handle)}
    contract = {(source.name, column, value)
                for source in SOURCES.values() for column, values in source.enums.items() for value in values}
    assert seed == contract, {"only in the seed": sorted(seed - contract), "only in the contract": sorted(contract - seed)}


def manifest() -> dict:
    """dbt's parsed project (tests/conftest.py parses it once per session)."""
    return json.loads((DBT_DIR / "target" / "manifest.json").read_text())


def dbt_vars() -> dict:
    return yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())["vars"]


def test_attribution_models_and_tolerances_are_the_same_in_dbt_and_the_gates():
    """fct_attribution's accepted models and the credit-sum tolerances: dbt's vars (its accepted_values test and
    assert_attribution_credits_sum_to_one read them) and the Python gates (mart_integrity, explain-customer)."""
    found = dbt_vars()
    assert tuple(found["attribution_models"]) == ATTRIBUTION_MODELS
    assert found["attribution_credit_tolerance"] == MARTS.attribution_credit_tolerance
    assert found["attribution_revenue_tolerance"] == MARTS.attribution_revenue_tolerance
    accepted = [n for n in manifest()["nodes"].values()
                if n["resource_type"] == "test" and n.get("test_metadata", {}).get("name") == "accepted_values"
                and n.get("attached_node", "").endswith(".fct_attribution")]
    assert [n["test_metadata"]["kwargs"]["values"] for n in accepted] == ["{{ var('attribution_models') }}"]


def test_the_data_driven_attribution_models_are_those_a_build_rewrites_for_conversions_it_did_not_rebuild():
    """Publishing replaces every row of the data-driven models in the BI file each night (BI_SCOPED_TABLES): they
    are exactly the models int_journeys__markov_credits works out when read (`'<model>' as model`), whose rows
    fct_attribution rewrites for every conversion each build, and the ones the stored credits table no longer holds
    (its pre-hook deletes them from an older version's table)."""
    assert set(DATA_DRIVEN_ATTRIBUTION_MODELS) <= set(ATTRIBUTION_MODELS)
    journeys = DBT_DIR / "models" / "intermediate" / "journeys"
    view = (journeys / "int_journeys__markov_credits.sql").read_text()
    assert set(re.findall(r"'(\w+)' as model", view)) == set(DATA_DRIVEN_ATTRIBUTION_MODELS)
    stored = (journeys / "int_journeys__attribution_credits.sql").read_text()
    # its pre-hook: delete_stored_rows('credit_rows', 'credit_rows.model = ' ~ dbt.string_literal('<model>'))
    assert set(re.findall(r"\.model = ' ~ dbt\.string_literal\('(\w+)'\)", stored)) == set(DATA_DRIVEN_ATTRIBUTION_MODELS)


def dbt_key_tests() -> tuple[dict[str, set[tuple[str, ...]]], dict[str, set[tuple[str, str]]]]:
    """Per mart model: the column sets dbt tests unique, and its (column, referenced model) relationships."""
    unique: dict[str, set[tuple[str, ...]]] = {}
    relationships: dict[str, set[tuple[str, str]]] = {}
    for node in manifest()["nodes"].values():
        meta = node.get("test_metadata") or {}
        model = (node.get("attached_node") or "").split(".")[-1]
        if node["resource_type"] != "test" or not model:
            continue
        kwargs = meta.get("kwargs", {})
        if meta.get("name") == "unique":
            # a column, or an expression over columns (identifier_type || ':' || identifier_value)
            columns = re.findall(r"\b[a-z_]+\b", re.sub(r"'[^']*'", "", kwargs["column_name"]))
            unique.setdefault(model, set()).add(tuple(sorted(columns)))
        elif meta.get("name") == "journey_unique_combination":
            unique.setdefault(model, set()).add(tuple(sorted(kwargs["columns"])))
        elif meta.get("name") == "relationships":
            referenced = re.search(r"ref\('([^']+)'\)", kwargs["to"]).group(1)
            relationships.setdefault(model, set()).add((kwargs["column_name"], referenced))
    return unique, relationships


def test_mart_keys_and_customer_references_are_the_same_in_dbt_and_the_gates():
    """Each mart's key (one row per key) and its customers' reference to dim_customers are tested by dbt (data
    tests, in the build) and by the <mart>_quality gate (expectations/): the two must name the same columns."""
    unique, relationships = dbt_key_tests()
    specs = {table: mart_spec(table) for table in SPECS}
    keys = {table.split(".")[-1]: tuple(sorted(spec.key)) for table, spec in specs.items()}
    assert {name for _, name, _ in MART_CHECKS} == set(keys)
    # The prediction step's tables are written by Python, not dbt: their gates are their only tests.
    from orchestration.lib.prediction import TABLES

    python_written = {table.split(".")[-1] for table in TABLES}
    for name, key in keys.items():
        if name in python_written:
            continue
        assert key in unique.get(name, set()), f"dbt tests no unique key {key} on {name}: {unique.get(name)}"
    for table, spec in specs.items():
        name = table.split(".")[-1]
        if name in python_written:
            continue
        for rule in spec.rules:
            if rule.rule == "customer_known":
                assert (rule.column, "dim_customers") in relationships.get(name, set()), (name, rule.column)


LAYERS = {
    # package: what of the project it may import (the shared vocabulary is below everything)
    "rules": set(),
    "orchestration.lib": {"rules", "orchestration.lib"},
    "generator": {"rules", "generator"},
    "expectations": {"rules", "orchestration.lib", "expectations"},
}


def project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in ("rules", "orchestration", "expectations", "generator")}


def test_layers_import_only_what_is_below_them():
    """rules < orchestration.lib < expectations < orchestration.defs; the generator reads only the rules."""
    wrong = {}
    for package, allowed in LAYERS.items():
        for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
            bad = {n for n in project_imports(path) if not any(n == a or n.startswith(a + ".") for a in allowed)}
            if bad:
                wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, wrong
