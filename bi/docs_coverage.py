"""Which models, seeds and columns dbt's documentation leaves without a description.

`make docs` runs it on the folder `dbt docs generate` wrote (manifest.json, catalog.json): every model and seed
needs a description, and so does every column the built table has (catalog.json) or the YAML declares.
Exit code 1 when something is missing, listed per model.
"""

import json
import sys
from pathlib import Path


def gaps(target: Path) -> dict[str, list[str]]:
    manifest = json.loads((target / "manifest.json").read_text())
    catalog_path = target / "catalog.json"
    catalog = json.loads(catalog_path.read_text())["nodes"] if catalog_path.exists() else {}
    missing: dict[str, list[str]] = {}
    for uid, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] not in ("model", "seed"):
            continue
        described = {name.lower() for name, col in node["columns"].items() if col.get("description", "").strip()}
        columns = list(catalog.get(uid, {}).get("columns", {})) + list(node["columns"])
        lacking = [c for c in dict.fromkeys(c.lower() for c in columns) if c not in described]
        if not node.get("description", "").strip():
            lacking.insert(0, "(the model itself)")
        if lacking:
            missing[f"{node['resource_type']} {node['name']} ({node['original_file_path']})"] = lacking
    return missing


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "dbt_project/target")
    missing = gaps(target)
    for name, columns in missing.items():
        print(f"no description: {name}: {', '.join(columns)}")
    if missing:
        print(f"{sum(map(len, missing.values()))} descriptions missing in {len(missing)} models and seeds")
        return 1
    print("every model, seed and column is described")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
