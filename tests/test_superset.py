"""Apache Superset as a real BI client of the published warehouse.

Superset 6.1 runs from its own virtual environment (`make superset` builds `.venv-superset`, with its metadata
database set up once; its pins clash with the pipeline's), as a web server on a free loopback port. The tests use
its REST API as a user's script would: log in, register the warehouse as a database (duckdb-engine, read-only;
Superset runs every query on a NullPool engine, so each query opens the file and closes it again), and run SQL
through SQL Lab's execution path (`POST /api/v1/sqllab/execute/`), also while a nightly run publishes.

`make test-superset` runs this file (CI runs it after `make test`); without `.venv-superset` it fails in CI and is
skipped elsewhere with the reason.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from orchestration.runner import execute, format_summary
from rules.contract import SOURCES
from tests.helpers import ROOT, copy_warehouse

pytestmark = [pytest.mark.superset, pytest.mark.slow]

SUPERSET_VENV = ROOT / ".venv-superset"
CONFIG = ROOT / "bi" / "superset_config.py"
VERSION_SQL = """select (select count(*) from marts.fct_touchpoints) as touchpoints,
       (select count(*) from marts.fct_touchpoints where source_name = 'orders') as order_touchpoints,
       (select count(*) from ops.loaded_files) as files"""


class Superset:
    """A running Superset server and an admin's access token."""

    def __init__(self, base: str):
        self.base = base
        self.token = None
        status, body = self.call("POST", "/api/v1/security/login",
                                 {"username": "admin", "password": "admin", "provider": "db", "refresh": False})
        assert status == 200, body
        self.token = body["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | str]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")[:2000]

    def register(self, name: str, warehouse: Path) -> int:
        status, body = self.call("POST", "/api/v1/database/", {
            "database_name": name,
            "sqlalchemy_uri": f"duckdb:///{warehouse.resolve()}?access_mode=read_only",
            "expose_in_sqllab": True, "allow_run_async": False, "allow_dml": False,
        })
        assert status == 201, body
        return body["id"]

    def sql(self, database_id: int, sql: str) -> tuple[int, dict | str]:
        """SQL Lab's execution path, as the SQL editor calls it (synchronously)."""
        return self.call("POST", "/api/v1/sqllab/execute/",
                         {"database_id": database_id, "sql": sql, "schema": "marts", "runAsync": False})

    def rows(self, database_id: int, sql: str) -> list[dict]:
        status, body = self.sql(database_id, sql)
        assert status == 200 and body["status"] == "success", body
        return body["data"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    exe = SUPERSET_VENV / "bin" / "superset"
    template = SUPERSET_VENV / "home" / "superset.db"
    if not (exe.exists() and template.exists()):
        message = f"no Superset in {SUPERSET_VENV}: `make test-superset` installs it and runs these tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tmp_path_factory.mktemp("superset_home")
    shutil.copyfile(template, home / "superset.db")  # an admin user, no databases
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(SUPERSET_HOME=str(home), SUPERSET_CONFIG_PATH=str(CONFIG))
    log = (home / "server.log").open("w")
    server = subprocess.Popen([str(exe), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
                              cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert server.poll() is None, "Superset exited:\n" + (home / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Superset did not answer in 5 minutes:\n" + (
                home / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(1)
        yield Superset(base)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_superset_reads_the_marts_through_sql_lab_read_only(superset, sample_build):
    from orchestration.lib.publish import bi_path

    bi = bi_path(sample_build.warehouse)  # the BI file (no direct identifiers), as the README's recipe says
    database_id = superset.register("journey sample", bi)
    con = duckdb.connect(str(bi), read_only=True)
    try:
        expected = con.execute("select count(*), sum(lifetime_revenue_amount)::double from marts.customer_360").fetchone()
        channels = dict(con.execute("select channel, attributed_conversions "
                                    "from marts.fct_markov_channel_attribution").fetchall())
    finally:
        con.close()
    got = superset.rows(database_id, "select count(*) as customers, sum(lifetime_revenue_amount)::double as revenue "
                                     "from marts.customer_360")
    assert (got[0]["customers"], round(got[0]["revenue"], 2)) == (expected[0], round(expected[1], 2))
    got = superset.rows(database_id, "select channel, attributed_conversions from marts.fct_markov_channel_attribution")
    assert {r["channel"]: r["attributed_conversions"] for r in got} == pytest.approx(channels)
    # the file is open read-only: DuckDB refuses a write even where Superset's own DML guard would let it through
    assert superset.rows(database_id, "select readonly from duckdb_databases() "
                                      "where database_name = current_database()") == [{"readonly": True}]
    status, body = superset.sql(database_id, "create table marts.scratch as select 1 as x")
    assert status != 200 or body.get("status") != "success"
    # the queries went through SQL Lab: Superset's query history has them
    status, history = superset.call("GET", "/api/v1/query/?q=(page_size:100)")
    assert status == 200 and sum(q["database"]["database_name"] == "journey sample" for q in history["result"]) >= 3


def late_orders(landing: Path, warehouse: Path, count: int = 2) -> str:
    """A late orders file in the latest export folder: `count` orders of that folder again under new ids."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = SOURCES["orders"].columns
        latest = con.execute("select max(_export_date) from raw.orders").fetchone()[0]
        rows = con.execute(f"""select {', '.join(columns)} from raw.orders where _export_date = ?
                               order by order_id, order_updated_at limit {count}""", [latest]).fetchall()
    finally:
        con.close()
    folder = landing / "orders" / str(latest)
    with (folder / "orders_late_for_superset.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i, row in enumerate(rows):
            writer.writerow([f"OSUPERSET{i}" if c == "order_id" else v for c, v in zip(columns, row, strict=True)])
    return str(latest)


def versions(warehouse: Path) -> tuple:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(VERSION_SQL).fetchone()
    finally:
        con.close()


def test_superset_queries_while_a_nightly_run_publishes_see_one_version_or_the_other(
        superset, sample_build, sample_landing, tmp_path):
    warehouse = copy_warehouse(sample_build.warehouse, tmp_path / "warehouse" / "journey.duckdb")
    late_orders(sample_landing, warehouse)
    old = versions(warehouse)
    database_id = superset.register("journey nightly", warehouse)

    seen, errors, stop = [], [], threading.Event()

    def dashboard():  # a BI user refreshing a chart over and over while the night runs
        while not stop.is_set():
            status, body = superset.sql(database_id, VERSION_SQL)
            if status == 200 and isinstance(body, dict) and body.get("status") == "success":
                row = body["data"][0]
                seen.append((row["touchpoints"], row["order_touchpoints"], row["files"]))
            else:
                errors.append(f"{status}: {body}"[:500])
            time.sleep(0.05)

    reader = threading.Thread(target=dashboard, daemon=True)
    reader.start()
    try:
        while not seen and not errors and reader.is_alive():
            time.sleep(0.1)  # Superset has answered once before the run starts
        summary = execute(sample_landing, warehouse)
        settled = len(seen)
        while len(seen) < settled + 3 and not errors and reader.is_alive():
            time.sleep(0.1)  # and answers a few more times after the publish
    finally:
        stop.set()
        reader.join(timeout=180)
    assert summary.exit_code == 0, format_summary(summary)
    new = versions(warehouse)
    # the night added the two late orders: two order touchpoints and one file more
    assert new == (old[0] + 2, old[1] + 2, old[2] + 1)
    assert errors == []  # no lock, no error
    assert set(seen) <= {old, new}, set(seen) - {old, new}  # never a mix of the two versions
    assert seen[0] == old and seen[-1] == new  # a query after the publish sees the new version (NullPool)
