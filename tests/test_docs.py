"""dbt's documentation site for analysts (`make docs`): every model, seed, column, source and test described
(bi/docs_coverage.py fails the target otherwise), one static page that opens offline and shows them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import DBT_DIR, ROOT, copy_warehouse

sys.path.insert(0, str(ROOT / "bi"))
from docs_coverage import gaps, main  # noqa: E402


def write_target(folder: Path, manifest: dict, catalog: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if catalog is not None:
        (folder / "catalog.json").write_text(json.dumps({"nodes": catalog}))
    return folder


def node(uid: str, kind: str, description: str, columns: dict[str, str] | None = None) -> dict:
    name = uid.rsplit(".", 1)[-1]
    return {"unique_id": uid, "resource_type": kind, "name": name, "description": description,
            "original_file_path": f"models/{name}.yml",
            "columns": {c: {"name": c, "description": d} for c, d in (columns or {}).items()}}


def test_coverage_names_every_model_column_and_test_without_a_description(tmp_path, capsys):
    manifest = {
        "nodes": {
            # described, but its built table has a column the YAML does not declare, and one declared is blank
            "model.p.orders": node("model.p.orders", "model", "Orders.", {"order_id": "Key.", "status": " "}),
            "model.p.bare": node("model.p.bare", "model", "", {}),
            "seed.p.rules": node("seed.p.rules", "seed", "Rules.", {"rule": "A rule."}),
            "test.p.unique_orders_order_id": node("test.p.unique_orders_order_id", "test", "order_id is the key."),
            "test.p.not_null_orders_order_id": node("test.p.not_null_orders_order_id", "test", ""),
            "test.p.assert_orders_add_up": node("test.p.assert_orders_add_up", "test", "   "),
            "operation.p.hook": node("operation.p.hook", "operation", ""),  # neither model, seed nor test
        },
        "unit_tests": {"unit_test.p.orders.test_a": node("unit_test.p.orders.test_a", "unit_test", ""),
                       "unit_test.p.orders.test_b": node("unit_test.p.orders.test_b", "unit_test", "Checked.")},
        "sources": {"source.p.raw.orders": {**node("source.p.raw.orders", "source", ""), "source_name": "raw"}},
    }
    catalog = {"model.p.orders": {"columns": {"ORDER_ID": {}, "STATUS": {}, "placed_at": {}}}}
    target = write_target(tmp_path / "t", manifest, catalog)

    assert gaps(target) == {
        "model bare (models/bare.yml)": ["(the model itself)"],
        "model orders (models/orders.yml)": ["status", "placed_at"],
        "test assert_orders_add_up (models/assert_orders_add_up.yml)": ["(the test)"],
        "test not_null_orders_order_id (models/not_null_orders_order_id.yml)": ["(the test)"],
        "unit test test_a (models/test_a.yml)": ["(the test)"],
        "source raw.orders (models/orders.yml)": ["(the table)"],
    }
    assert main(["docs_coverage", str(target)]) == 1
    printed = capsys.readouterr().out
    assert "no description: test not_null_orders_order_id" in printed
    assert "7 descriptions missing in 6 models, seeds, tests and sources" in printed


def test_coverage_passes_when_everything_is_described(tmp_path, capsys):
    manifest = {"nodes": {"model.p.m": node("model.p.m", "model", "M.", {"a": "A."}),
                          "test.p.t": node("test.p.t", "test", "T.")},
                "unit_tests": {}, "sources": {}}
    assert main(["docs_coverage", str(write_target(tmp_path / "t", manifest, {"model.p.m": {"columns": {"A": {}}}}))]) == 0
    assert "1 data tests, 0 unit tests" in capsys.readouterr().out


def test_every_model_column_and_test_of_the_project_is_described():
    """The project's own YAML (the manifest the session parsed; columns as declared): nothing missing, and the
    check did look at the tests (generic ones described beside their arguments, singular ones in tests/*.yml)."""
    target = DBT_DIR / "target"
    assert gaps(target) == {}
    manifest = json.loads((target / "manifest.json").read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    singular = [n for n in tests if "test_metadata" not in n]
    assert len(tests) > 150 and len(singular) >= 10
    assert all(n["description"].strip() for n in tests)


@pytest.mark.slow
def test_make_docs_builds_one_offline_page_that_shows_the_test_descriptions(sample_build, tmp_path):
    """`make docs` on a copy of the sample warehouse (column types from it): the coverage check passes with the
    built tables' columns, and headless Chromium, with the network refused, shows a generic and a singular test's
    description on their pages."""
    warehouse = copy_warehouse(sample_build.warehouse, tmp_path / "w" / "journey.duckdb")
    env = {**os.environ, "DBT_LOG_PATH": str(tmp_path / "logs")}
    # the recipe itself: the installed environment and the parsed manifest are taken as they are (-o)
    run = subprocess.run(["make", "--no-print-directory", "-o", "dbt_project/target/manifest.json", "docs",
                          f"WAREHOUSE={warehouse}", f"BIN={Path(sys.executable).parent}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "every model, seed, column, source and test" in run.stdout
    docs = tmp_path / "w" / "dbt_docs"
    assert not (docs / "catalog.duckdb").exists()
    catalog = json.loads((docs / "catalog.json").read_text())["nodes"]
    assert "order_id" in {c.lower() for c in catalog["model.customer_journey.stg_shop__orders"]["columns"]}

    manifest = json.loads((docs / "manifest.json").read_text())
    tests = {n["name"]: (uid, n["description"]) for uid, n in manifest["nodes"].items() if n["resource_type"] == "test"}
    generic = tests["unique_fct_touchpoints_touchpoint_id"]
    singular = tests["assert_funnel_steps_never_grow"]
    shown = pages_text(docs / "static_index.html", [f"#!/test/{generic[0]}", f"#!/test/{singular[0]}"])
    assert generic[1] in shown[0] and singular[1].strip() in shown[1]
    # nothing from the network (dbt-docs asks for a favicon by a broken relative file URL, which is harmless)
    assert [url for url in shown[2] if not url.startswith("file:")] == []


def pages_text(page: Path, fragments: list[str]) -> list:
    """The visible text of `page` at each fragment (dbt docs routes), in headless Chromium with the network
    refused; last, the requests it tried beyond its own file."""
    from playwright.sync_api import sync_playwright

    from tests.test_report import chromium

    requests, texts = [], []

    def route(r):
        if r.request.url.split("#")[0] == page.as_uri():
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            tab.route("**/*", route)
            for fragment in fragments:
                tab.goto(page.as_uri() + fragment, wait_until="load")
                tab.wait_for_selector("text=Description", timeout=30_000)
                texts.append(" ".join(tab.inner_text("body").split()))
        finally:
            browser.close()
    return [*texts, requests]

