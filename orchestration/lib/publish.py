"""Atomic publish and rollback of the warehouse file.

Readers open the published file read-only. A run writes a build file beside it; publishing checkpoints
the build file, compacts it when too much of it is dead space (JOURNEY_COMPACT_FREE_SHARE, see
warehouse.compact_if_fragmented: a rewrite into `<build>.compact` renamed over the build file, which nobody
reads), and renames it over the published path (os.replace is atomic on one file system), after hard-linking
the old version to `<path>.previous`. Readers that already had the old file open keep reading it until they
reconnect; new connections see the new version. There is no moment without a file at PATH, and a kill at any
point leaves the published file and `.previous` as they were or fully swapped.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.privacy import erase_previous, erasure_marker
from orchestration.lib.warehouse import (
    Compaction,
    compact_database,
    compact_free_share,
    compact_if_fragmented,
    create_database,
    sql_literal,
    storage_version,
)
from rules.privacy import DIRECT_IDENTIFIER_COLUMNS

# Published files (the warehouse, the version kept for rollback, the BI file) are readable by owner and group only:
# they hold personal data (docs/privacy.md).
PUBLISHED_MODE = 0o640


@dataclass
class PublishResult:
    published: Path
    previous: Path | None
    compaction: Compaction
    bi: Path | None = None
    erasure: list[str] | None = None  # request ids of the erasures this publish completed


def previous_path(published: Path) -> Path:
    return published.with_name(published.name + ".previous")


def publish(build: Path, published: Path, compact_above: float | None = None) -> PublishResult:
    """Publish the build file; compact it first when its dead share (free blocks, deleted rows) is above
    `compact_above` (default: JOURNEY_COMPACT_FREE_SHARE, else warehouse.DEFAULT_COMPACT_FREE_SHARE)."""
    if not build.exists():
        raise FileNotFoundError(f"nothing to publish: build file {build} does not exist")
    threshold = compact_free_share() if compact_above is None else compact_above
    marker = erasure_marker(build)
    erasure = marker.read_text(encoding="utf-8").split() if marker.exists() else None
    if erasure is not None:
        # an erasure: the whole file is rewritten, so that no free block keeps a copy of the erased rows; this
        # must not fail quietly (a failure fails the publish)
        compaction = compact_if_fragmented(str(build), 2.0, failpoint)  # checkpoint only
        started = time.perf_counter()
        after = compact_database(str(build), failpoint)
        compaction = Compaction(True, compaction.before, after, time.perf_counter() - started, 0.0)
    else:
        compaction = compact_if_fragmented(str(build), threshold, failpoint)  # checkpoints the build file first
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} still exists after a checkpoint; refusing to publish a file that depends on it")
    bi = write_bi_file(build, bi_path(published))
    os.chmod(build, PUBLISHED_MODE)
    prev: Path | None = None
    if published.exists():
        prev = previous_path(published)
        if erasure is not None:  # the version kept for rollback loses the person too (a rewritten copy)
            erase_previous(published, prev)
        else:
            prev.unlink(missing_ok=True)
            os.link(published, prev)
    failpoint("publish_after_link")
    os.replace(build, published)
    marker.unlink(missing_ok=True)
    return PublishResult(published, prev, compaction, bi, erasure)


def bi_path(published: Path) -> Path:
    """The BI file beside the published warehouse: `journey.duckdb` -> `journey_bi.duckdb`."""
    return published.with_name(published.stem + "_bi" + published.suffix)


# The analyst surface (docs/privacy.md): the marts without direct identifiers. Columns of these names are left
# out, and so is every column ending in `_record_id` (a source system's record key); marts.customer_identifiers
# (every identifier value) is left out whole. dim_customers and customer_360 get an age band instead of the
# birth date.
BI_DROPPED_COLUMNS = DIRECT_IDENTIFIER_COLUMNS | {"loyalty_id", "identifier_value", "record_id"}
BI_DROPPED_TABLES = frozenset({"customer_identifiers"})
# Rows left out: the merge log's re-keyings link each md5 id of an older version (computable from an identifier) to
# the keyed id that replaced it, which would let anyone holding an e-mail find its customer in the BI file again
# (docs/privacy.md "Customer ids").
BI_ROW_FILTERS = {"customer_merges": "t.change_type is distinct from 'rekey'"}
AGE_BANDS = "case when age < 18 then 'under 18' when age < 25 then '18-24' when age < 35 then '25-34' " \
            "when age < 45 then '35-44' when age < 55 then '45-54' when age < 65 then '55-64' " \
            "when age is not null then '65+' end"


def bi_columns(table: str, columns: list[str]) -> list[str]:
    """The SELECT list of one mart in the BI file (quoted column names and expressions)."""
    out = [f'"{c}"' for c in columns if c not in BI_DROPPED_COLUMNS and not c.endswith("_record_id")]
    if table in ("dim_customers", "customer_360"):
        age = ("(select date_diff('year', d.birth_date, current_date) - "
               "case when strftime(d.birth_date, '%m%d') > strftime(current_date, '%m%d') then 1 else 0 end "
               "from src.marts.dim_customers d where d.customer_id = t.customer_id)")
        out.append(AGE_BANDS.replace("age", age, ) + " as age_band")
    return out


def write_bi_file(build: Path, target: Path, timings: dict[str, float] | None = None) -> Path:
    """Write the BI file from the (checkpointed) build file: every mart (a view's rows as a table), less direct
    identifiers, in the same storage format, made in `<target>.tmp` and renamed over `target` (readers of the old one keep it).

    With `timings` (a dict), the seconds each table took are put in it, and the final checkpoint's as `checkpoint`
    (benchmarks/bi_file.py)."""
    import duckdb

    timings = {} if timings is None else timings

    tmp = target.with_name(target.name + ".tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    tag = storage_version(str(build))
    create_database(str(tmp), tag.rstrip("+") if tag else None)  # the warehouse's own format (BI drivers)
    con = duckdb.connect(str(tmp))
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach {sql_literal(str(build))} as src (read_only)")
        con.execute("create schema if not exists marts")
        # views too (customer_360 is a view of a table and the predictions): a table of their rows here
        tables = con.execute("select table_name from information_schema.tables where table_catalog = 'src' "
                             "and table_schema = 'marts' and table_type in ('BASE TABLE', 'VIEW') "
                             "order by 1").fetchall()
        for (table,) in tables:
            if table in BI_DROPPED_TABLES:
                continue
            columns = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'src' and table_schema = 'marts' "
                "and table_name = ? order by ordinal_position", [table]).fetchall()]
            where = f" where {BI_ROW_FILTERS[table]}" if table in BI_ROW_FILTERS else ""
            started = time.perf_counter()
            con.execute(f'create table marts."{table}" as select {", ".join(bi_columns(table, columns))} '
                        f'from src.marts."{table}" t{where}')
            timings[table] = time.perf_counter() - started
        con.execute("detach src")
        started = time.perf_counter()
        con.execute("checkpoint")
        timings["checkpoint"] = time.perf_counter() - started
    finally:
        con.close()
    os.chmod(tmp, PUBLISHED_MODE)
    os.replace(tmp, target)
    return target


def failpoint(name: str) -> None:
    """Crash tests only: JOURNEY_FAILPOINT=<name> kills this process here, as a power cut would."""
    if os.environ.get("JOURNEY_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def rollback(published: Path) -> Path:
    """Make the previous version the published one again (the current one is kept as `.previous`)."""
    prev = previous_path(published)
    if not prev.exists():
        raise FileNotFoundError(f"no previous version to roll back to: {prev} does not exist")
    swap = published.with_name(published.name + ".rollback")
    swap.unlink(missing_ok=True)
    os.link(prev, swap)
    if published.exists():
        prev.unlink()
        os.link(published, prev)
    os.replace(swap, published)
    return published
