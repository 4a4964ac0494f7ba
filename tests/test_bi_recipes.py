"""The README's connection recipes ("Connecting a BI tool"), run as written there: the text is read from the README,
so a recipe that drifts from what works fails here.

- Jupyter with pandas and polars: the Python block, in a process of its own (a notebook's kernel), on the
  published sample warehouse; it reads it read-only (the file is unchanged, and a writer can take it afterwards).
- The DuckDB CLI: the `duckdb-cli` package (a dev dependency; its newest release bundles the DuckDB 1.5 CLI) cannot
  open the newest storage format, and reads the file once `JOURNEY_STORAGE_VERSION=v1.4.0` had the pipeline write
  the older one - the README's version story, checked with a real older DuckDB.
(Superset: tests/test_superset.py. Metabase, Tableau, Power BI: not testable here, the README says so.)
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.helpers import ROOT, copy_warehouse, query

README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI = Path(sys.executable).parent / "duckdb"  # the console script of the duckdb-cli package


def recipe(title: str) -> str:
    """The README's recipe bullet that starts with **title** (up to the next bullet or heading)."""
    match = re.search(rf"^- \*\*{re.escape(title)}\*\*(.*?)(?=^- \*\*|^#)", README, re.S | re.M)
    assert match, f"README has no recipe '{title}'"
    return match.group(1)


def python_recipe() -> str:
    block = re.search(r"```python\n(.*?)```", recipe("Jupyter, pandas, polars"), re.S)
    assert block, "the Jupyter recipe has no python block"
    return "\n".join(line[2:] if line.startswith("  ") else line for line in block.group(1).splitlines())


def cli_recipe() -> tuple[list[str], str]:
    """The CLI recipe's command (as argv, the path still the README's) and its example SQL."""
    text = " ".join(recipe("DuckDB CLI").split())
    command = re.search(r"`(duckdb -readonly [^`]+)`", text)
    sql = re.search(r"then e\.g\. `([^`]+)`", text)
    assert command and sql, f"the CLI recipe lost its command or its SQL: {text}"
    return command.group(1).split(), sql.group(1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_jupyter_recipe_reads_the_published_warehouse_with_pandas_and_polars(sample_build):
    from orchestration.lib.publish import bi_path

    warehouse = bi_path(sample_build.warehouse)  # the recipes read the BI file (docs/privacy.md)
    code = python_recipe()
    assert 'read_only=True' in code and ".df()" in code and ".pl()" in code
    code = code.replace('"/path/warehouse/journey_bi.duckdb"', repr(str(warehouse)))
    assert repr(str(warehouse)) in code, "the recipe's path is no longer /path/warehouse/journey_bi.duckdb"
    check = code + (
        "\nimport pandas, polars\n"
        "assert isinstance(paths, pandas.DataFrame) and isinstance(credits, polars.DataFrame)\n"
        "print(len(paths), paths['conversion_id'].notna().sum(), credits.height, round(credits['credit'].sum(), 6))\n"
    )
    before = sha256(warehouse)
    run = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = query(warehouse, "select (select count(*) from marts.fct_conversion_paths), "
                                "(select count(conversion_id) from marts.fct_conversion_paths), "
                                "(select count(*) from marts.fct_attribution), "
                                "(select round(sum(credit), 6) from marts.fct_attribution)")[0]
    rows, conversions, credits, credit_sum = run.stdout.split()
    assert (int(rows), int(conversions), int(credits)) == expected[:3] and expected[0] > 0 and expected[2] > 0
    # every conversion's credits sum to 1 under each of the six models
    assert float(credit_sum) == pytest.approx(expected[3]) and float(credit_sum) == pytest.approx(6 * expected[1])
    assert sha256(warehouse) == before  # read-only: not a byte written


def test_recipe_readers_share_the_file_and_leave_it_to_a_writer(tmp_path):
    """While the recipe's read-only connection is open, another reader opens the file too and a read-write
    connection from another process is refused; once the recipe closed it, a writer opens it."""
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create table marts.fct_conversion_paths as select 1 as conversion_id; "
                "create table marts.fct_attribution as select 1 as conversion_id, 1.0 as credit")
    con.close()
    code = python_recipe().replace('"/path/warehouse/journey_bi.duckdb"', repr(str(path)))
    hold = code.replace("con.close()", "import sys; sys.stdout.write('open\\n'); sys.stdout.flush(); sys.stdin.readline(); con.close()")
    reader = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        writer = subprocess.run([sys.executable, "-c", f"import duckdb; duckdb.connect({str(path)!r})"],
                                capture_output=True, text=True, check=False)
        assert writer.returncode != 0 and "lock" in writer.stderr.lower()  # a reader holds it: no writer
        assert query(path, "select count(*) from marts.fct_attribution") == [(1,)]  # readers share it
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.wait(timeout=60) == 0
    finally:
        reader.kill()
    duckdb.connect(str(path)).close()  # closed: a writer opens it


def cli(warehouse: Path, cwd: Path) -> subprocess.CompletedProcess:
    """The README's CLI recipe, typed into the duckdb-cli's CLI: its command on `warehouse`, then its SQL."""
    if not CLI.exists():
        pytest.fail(f"no {CLI}: the duckdb-cli package is a dev dependency (`make` installs it)")
    command, sql = cli_recipe()
    assert command[0] == "duckdb" and (cwd / command[-1]) == warehouse, command  # the README's relative path
    return subprocess.run([str(CLI), *command[1:]], input=".mode csv\n" + sql + "\n",
                          capture_output=True, text=True, check=False, cwd=cwd)


@pytest.mark.slow
def test_duckdb_cli_recipe_needs_the_older_storage_format_and_then_reads_the_marts(sample_build, tmp_path,
                                                                                   monkeypatch):
    from orchestration.lib.warehouse import STORAGE_VERSION_ENV, requested_storage_version, start_build_file, storage_version

    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, check=False).stdout
    assert version.startswith("v1."), version  # the CLI on PyPI is DuckDB 1.x; the pipeline writes 2.x's format

    from orchestration.lib.publish import bi_path, write_bi_file

    newest = copy_warehouse(sample_build.warehouse, tmp_path / "newest" / "warehouse" / "journey.duckdb")
    shutil.copyfile(bi_path(sample_build.warehouse), bi_path(newest))
    refused = cli(bi_path(newest), tmp_path / "newest")
    assert refused.returncode != 0 and "created with a newer version of DuckDB" in refused.stdout + refused.stderr

    # what a run does with JOURNEY_STORAGE_VERSION=v1.4.0: the build file starts as a conversion of the published one
    monkeypatch.setenv(STORAGE_VERSION_ENV, "v1.4.0")
    older = tmp_path / "older" / "warehouse" / "journey.duckdb"
    older.parent.mkdir(parents=True)
    assert "converted" in start_build_file(str(newest), str(older), requested_storage_version())
    assert storage_version(str(older)) == "v1.4.0+"
    timings: dict[str, float] = {}
    write_bi_file(older, bi_path(older), timings)  # what that run's publish writes beside it, in the same format
    assert storage_version(str(bi_path(older))) == "v1.4.0+"
    # the seconds of every table it wrote, and of its checkpoint (benchmarks/bi_file.py prints them)
    written = {r[0] for r in query(bi_path(older), "select table_name from duckdb_tables() where schema_name = 'marts'")}
    assert set(timings) == written | {"checkpoint"} and "fct_touchpoints" in written
    assert all(seconds >= 0 for seconds in timings.values())
    read = cli(bi_path(older), tmp_path / "older")
    assert read.returncode == 0, read.stderr
    lines = read.stdout.strip().splitlines()
    expected = query(newest, "select * from marts.fct_markov_channel_attribution")
    assert len(lines) == len(expected) + 1 > 2  # a header and every channel
    header = lines[0].split(",")
    assert header[0] == "channel" and {line.split(",")[0] for line in lines[1:]} == {row[0] for row in expected}
