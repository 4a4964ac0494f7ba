"""What dbt's documentation leaves without a description: models, seeds, their columns, and tests.

`make docs` runs it on the folder `dbt docs generate` wrote (manifest.json, catalog.json):
- every model and seed needs a description, and so does every column the built table has (catalog.json) or the
  YAML declares;
- every data test needs one: a generic test's `description:` beside its arguments in the model's YAML, a singular
  test's in a properties file under dbt_project/tests/ (`data_tests:` entries by name); every unit test too;
- every source table needs one (their columns are the export contract's: README "The export contract").
Exit code 1 when something is missing, listed per resource.
"""

import json
import sys
from pathlib import Path


def described(item: dict) -> bool:
    return bool((item.get("description") or "").strip())


def gaps(target: Path) -> dict[str, list[str]]:
    """Per resource ('<type> <name> (<file>)'): what lacks a description ('(the model itself)', '(the test)', columns)."""
    manifest = json.loads((target / "manifest.json").read_text())
    catalog_path = target / "catalog.json"
    catalog = json.loads(catalog_path.read_text())["nodes"] if catalog_path.exists() else {}
    missing: dict[str, list[str]] = {}
    for uid, node in sorted(manifest["nodes"].items()):
        kind = node["resource_type"]
        if kind == "test":
            if not described(node):
                missing[f"test {node['name']} ({node['original_file_path']})"] = ["(the test)"]
            continue
        if kind not in ("model", "seed"):
            continue
        described_columns = {name.lower() for name, col in node["columns"].items() if described(col)}
        columns = list(catalog.get(uid, {}).get("columns", {})) + list(node["columns"])
        lacking = [c for c in dict.fromkeys(c.lower() for c in columns) if c not in described_columns]
        if not described(node):
            lacking.insert(0, "(the model itself)")
        if lacking:
            missing[f"{kind} {node['name']} ({node['original_file_path']})"] = lacking
    for test in sorted(manifest.get("unit_tests", {}).values(), key=lambda t: t["unique_id"]):
        if not described(test):
            missing[f"unit test {test['name']} ({test['original_file_path']})"] = ["(the test)"]
    for source in sorted(manifest.get("sources", {}).values(), key=lambda s: s["unique_id"]):
        if not described(source):
            missing[f"source {source['source_name']}.{source['name']} ({source['original_file_path']})"] = ["(the table)"]
    return missing


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "dbt_project/target")
    missing = gaps(target)
    for name, items in missing.items():
        print(f"no description: {name}: {', '.join(items)}")
    if missing:
        print(f"{sum(map(len, missing.values()))} descriptions missing in {len(missing)} models, seeds, tests and sources")
        return 1
    manifest = json.loads((target / "manifest.json").read_text())
    tests = sum(node["resource_type"] == "test" for node in manifest["nodes"].values())
    print(f"every model, seed, column, source and test ({tests} data tests, {len(manifest.get('unit_tests', {}))} "
          "unit tests) is described")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
