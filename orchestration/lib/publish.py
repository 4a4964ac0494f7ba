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
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.lib.privacy import erase_previous, erasure_marker
from orchestration.lib.warehouse import (
    Compaction,
    clone_or_copy,
    compact_database,
    compact_free_share,
    compact_if_fragmented,
    connect,
    create_database,
    file_space,
    sql_literal,
    storage_version,
)
from rules.journeys import DATA_DRIVEN_ATTRIBUTION_MODELS
from rules.privacy import DIRECT_IDENTIFIER_COLUMNS

# Published files (the warehouse, the version kept for rollback, the BI file) are readable by owner and group only:
# they hold personal data (docs/privacy.md).
PUBLISHED_MODE = 0o640


@dataclass
class PublishResult:
    published: Path
    previous: Path | None
    compaction: Compaction
    bi: BiFile | None = None
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
    parent = record_publication(build)  # after the compaction (which judges what the build made), checkpointed
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} still exists after a checkpoint; refusing to publish a file that depends on it")
    bi = write_bi_file(build, bi_path(published), parent=None if erasure is not None else parent,
                       keep_previous=erasure is None)
    os.chmod(build, PUBLISHED_MODE)
    prev: Path | None = None
    if published.exists():
        prev = previous_path(published)
        if erasure is not None:  # the version kept for rollback loses the person too (a rewritten copy)
            erase_previous(published, prev)
            write_bi_file(prev, previous_path(bi_path(published)))  # and so does its BI file (written whole)
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


@dataclass(frozen=True)
class BiRefresh:
    """Rows of a mart whose `columns` every build may change in place (those `where` matches, a condition on the
    build's row as `t`), found by `key`: the BI file's copy takes the build's values where they differ."""

    where: str
    key: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class BiScope:
    """Which rows of a mart a build can change: those of the visitors it rewrote (`scope_column` in
    intermediate.int_journeys__rebuild_scope.visitor_key), only from their rebuild_from on when `since` names the
    row's time column (the rows are then replaced by `key`), plus the columns `refresh` names in the rows it matches
    (every build may change them). With `whole_when` (an aggregate), the table is written whole when its value
    differs between the build and the BI file's copy."""

    scope_column: str
    since: str | None = None
    key: str | None = None
    refresh: BiRefresh | None = None
    whole_when: str | None = None


# The marts whose rows a build changes only for the visitors of int_journeys__rebuild_scope (each model's
# "Incremental" comment, docs/journeys.md "Incremental builds"): the BI file's copy of them is brought up to date
# by replacing those rows; every other mart is written whole. customer_360 and dim_customers carry an age band
# computed on the day (and customer_360 reads the predictions, refitted every run), so they are written whole.
# A model whose incremental rule changes must change its entry here: tests/test_incremental.py compares the BI file
# its nights update with one written whole from the same build.
BI_SCOPED_TABLES = {
    "fct_touchpoints": BiScope("visitor_key", since="occurred_at", key="touchpoint_id"),
    "fct_sessions": BiScope("visitor_key"),
    "fct_conversion_paths": BiScope("visitor_key"),
    # the data-driven models' credits move with every night's paths, their rows' channels do not
    "fct_attribution": BiScope("visitor_key", refresh=BiRefresh(
        "t.model in ({})".format(", ".join(sql_literal(m) for m in DATA_DRIVEN_ATTRIBUTION_MODELS)),
        key=("conversion_id", "model", "channel"), columns=("credit", "revenue_credit"))),
    "fct_funnel_progress": BiScope("visitor_key"),
    "fct_customer_journeys": BiScope("customer_id"),
    # every customer gets the new weeks when the as-of week moves on
    "fct_customer_lifecycle_weeks": BiScope("customer_id", whole_when="max(week_start)"),
}
REBUILD_SCOPE = "src.intermediate.int_journeys__rebuild_scope"
# The BI file is written whole when more than this share of the previous one is dead space (deleted rows, free
# blocks): an update leaves the replaced rows behind (a campaign night at 500k people about 28% of the file), and
# rewriting at the warehouse's 10% would write it whole every other night. It stays below 1.5x its written size.
BI_REWRITE_DEAD_SHARE = 1 / 3


@dataclass(frozen=True)
class Publication:
    """A row of ops.publications: one per publish of the warehouse (the file's own log of its versions)."""

    number: int
    publication_id: str
    journey_build_number: int | None  # max(_build_number) of the journeys when it was published


PUBLICATIONS_DDL = ("create table if not exists ops.publications (publication_number integer, publication_id varchar, "
                    "published_at timestamp, journey_build_number integer)")


def record_publication(build: Path) -> Publication | None:
    """Add this publish to the build file's ops.publications; the publication the build started from (the last row
    before, inherited from the published file it copies), or None."""
    import uuid

    con = connect(str(build))
    try:
        con.execute("create schema if not exists ops")
        con.execute(PUBLICATIONS_DDL)
        parent = last_publication(con, "")
        number = _journey_build_number(con, "")
        con.execute("insert into ops.publications values (?, ?, now() at time zone 'UTC', ?)",
                    [(parent.number if parent else 0) + 1, str(uuid.uuid4()), number])
        con.execute("checkpoint")
    finally:
        con.close()
    return parent


def last_publication(con, catalog: str) -> Publication | None:
    """The last row of `catalog`.ops.publications (catalog "" for the connection's own database), or None."""
    if not _has_table(con, catalog, "ops", "publications"):
        return None
    row = con.execute(f"select publication_number, publication_id, journey_build_number from {_prefix(catalog)}"
                      "ops.publications order by publication_number desc limit 1").fetchone()
    return Publication(*row) if row else None


def _journey_build_number(con, catalog: str) -> int | None:
    if not _has_table(con, catalog, "intermediate", "int_journeys__touchpoints_sessionized"):
        return None
    return con.execute(f"select max(_build_number) from {_prefix(catalog)}intermediate."
                       "int_journeys__touchpoints_sessionized").fetchone()[0]


def _prefix(catalog: str) -> str:
    return f"{catalog}." if catalog else ""


def _has_table(con, catalog: str, schema: str, table: str) -> bool:
    """Whether `catalog` ("": the connection's own database) has `schema`.`table`."""
    where = f"table_catalog = {sql_literal(catalog)}" if catalog else "table_catalog = current_database()"
    return con.execute(f"select count(*) from information_schema.tables where {where} and table_schema = ? "
                       "and table_name = ?", [schema, table]).fetchone()[0] > 0


@dataclass
class BiFile:
    """What publishing did to the BI file (str(): in words, for the run's log)."""

    path: Path
    updated: bool  # brought up to date from the previous BI file (else written whole)
    reason: str  # why it was (not) updated in place
    tables: dict[str, str] = field(default_factory=dict)  # table -> 'updated' | 'written' (and why)

    def __str__(self) -> str:
        if not self.updated:
            return f"BI file {self.path} written whole ({self.reason})"
        kept = sorted(t for t, how in self.tables.items() if how == "updated")
        return (f"BI file {self.path} brought up to date from its previous version: {len(kept)} tables updated "
                f"({', '.join(kept)}), {len(self.tables) - len(kept)} written whole")


def write_bi_file(build: Path, target: Path, timings: dict[str, float] | None = None,
                  parent: Publication | None = None, keep_previous: bool = False) -> BiFile:
    """Write the BI file from the (checkpointed) build file: every mart (a view's rows as a table), less direct
    identifiers, in the same storage format, made in `<target>.tmp` and renamed over `target` (readers of the old one
    keep it). It also gets the build's ops.publications (its last row is the version the BI file shows).

    When `parent` (the publication the build started from) is the version the BI file at `target` shows, and the
    build ran the journey models once since (its journey build number is the parent's or the next), `<target>.tmp`
    starts as a copy of that file and the marts of BI_SCOPED_TABLES get only the rows of the visitors the build
    rewrote; the other marts are written whole. A table whose columns changed, or whose row count differs from the
    build's afterwards, is written whole; so is the whole file when more than BI_REWRITE_DEAD_SHARE of the old
    one is dead space, when its storage format differs, or after an erasure (the caller passes no parent: no free
    block may keep an erased row).

    With `keep_previous`, the file replaced is kept as `<target>.previous` (hard-linked, as the warehouse's previous
    version: `journey rollback` swaps both back). With `timings` (a dict), the seconds each table took are put in
    it, and the final checkpoint's as `checkpoint` (benchmarks/bi_file.py)."""
    timings = {} if timings is None else timings
    tmp = target.with_name(target.name + ".tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    tag = storage_version(str(build))
    reason = _bi_update_refused(build, target, tag, parent)
    if reason is None:
        clone_or_copy(str(target), str(tmp))
    else:
        create_database(str(tmp), tag.rstrip("+") if tag else None)  # the warehouse's own format (BI drivers)
    result = BiFile(target, reason is None, reason or "its previous version shows the build's parent")
    con = _bi_connect(tmp, build)
    try:
        con.execute("create schema if not exists marts")
        # views too (customer_360 is a view of a table and the predictions): a table of their rows here
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = 'src' and table_schema = 'marts' "
            "and table_type in ('BASE TABLE', 'VIEW') order by 1").fetchall() if r[0] not in BI_DROPPED_TABLES]
        for (stale,) in con.execute("select table_name from information_schema.tables where table_catalog = "
                                    "current_database() and table_schema = 'marts'").fetchall():
            if stale not in tables:
                con.execute(f'drop table marts."{stale}"')
        for table in tables:
            started = time.perf_counter()
            result.tables[table] = _bi_table(con, table, result.updated)
            timings[table] = time.perf_counter() - started
        con.execute("create schema if not exists ops")
        if last_publication(con, "src") is not None:  # the version this file shows (an older build has no log)
            con.execute("create or replace table ops.publications as select * from src.ops.publications")
        con.execute("create or replace table ops.bi_tables (table_name varchar, written varchar)")
        if result.tables:
            con.executemany("insert into ops.bi_tables values (?, ?)", list(result.tables.items()))
        con.execute("detach src")
        started = time.perf_counter()
        con.execute("checkpoint")
        timings["checkpoint"] = time.perf_counter() - started
    finally:
        con.close()
    os.chmod(tmp, PUBLISHED_MODE)
    if keep_previous and target.exists():
        previous_path(target).unlink(missing_ok=True)
        os.link(target, previous_path(target))
    os.replace(tmp, target)
    return result


def _bi_connect(tmp: Path, build: Path):
    con = connect(str(tmp))
    # one checkpoint at the end: an update's deletes and inserts go to the write-ahead log, and DuckDB's automatic
    # checkpoint (at 16 MB of log) would rewrite the tables' changed row groups several times over
    con.execute("set checkpoint_threshold = '64GB'")
    con.execute(f"attach {sql_literal(str(build))} as src (read_only)")
    return con


def _bi_update_refused(build: Path, target: Path, tag: str | None, parent: Publication | None) -> str | None:
    """Why the BI file at `target` cannot be brought up to date from the build (None: it can)."""
    import duckdb

    if parent is None:
        return "no previous publication to start from (a new warehouse, an older one, or an erasure)"
    if not target.exists():
        return f"no previous BI file at {target}"
    try:
        format_differs = storage_version(str(target)) != tag
        con = connect(str(target), read_only=True)
    except duckdb.Error as exc:  # e.g. a reader that opened it for writing holds its lock: the rename still works
        return f"the previous BI file could not be read ({type(exc).__name__}: {exc})"
    if format_differs:
        con.close()
        return "the previous BI file is in another storage format"
    try:
        shown = last_publication(con, "")
        dead = file_space(con, str(target)).free_share
        con.execute(f"attach {sql_literal(str(build))} as src (read_only)")
        number = _journey_build_number(con, "src")
        has_scope = _has_table(con, "src", "intermediate", "int_journeys__rebuild_scope")
    finally:
        con.close()
    if shown is None or shown.publication_id != parent.publication_id:
        return ("the previous BI file shows another version than the one this build started from (a rollback, "
                "or a publish that stopped between the two files)")
    if not has_scope or number is None or parent.journey_build_number is None:
        return "the build or its previous version has no journey models to update from"
    if number - parent.journey_build_number not in (0, 1):
        return (f"the journey models were built {'from scratch' if number == 1 else 'more than once'} since "
                "the previous version")
    if dead > BI_REWRITE_DEAD_SHARE:  # an update would add to it
        return f"{dead:.0%} of the previous BI file is dead space"
    return None


def _bi_table(con, table: str, update: bool) -> str:
    """Write (or, with `update` and a rule in BI_SCOPED_TABLES, bring up to date) one mart in the BI file; how."""
    columns = [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_catalog = 'src' and table_schema = 'marts' "
        "and table_name = ? order by ordinal_position", [table]).fetchall()]
    select = ", ".join(f"t.{c}" if c.startswith('"') else c for c in bi_columns(table, columns))
    where = f" where {BI_ROW_FILTERS[table]}" if table in BI_ROW_FILTERS else ""
    rule = None if table in BI_ROW_FILTERS else BI_SCOPED_TABLES.get(table)  # an update copies no row filter
    why = "no rule to update it" if rule is None else None
    if update and rule is not None:
        why = _bi_update_table(con, table, select, rule)
        if why is None:
            return "updated"
    con.execute(f'create or replace table marts."{table}" as select {select} from src.marts."{table}" t{where}')
    return "written" if why is None or not update else f"written ({why})"


def _bi_update_table(con, table: str, select: str, rule: BiScope) -> str | None:
    """Replace the rows of `table` the build can have changed (BiScope); why it could not be (None: it was)."""
    name, source = f'marts."{table}"', f'src.marts."{table}"'
    if not _has_table(con, "", "marts", table):
        return "not in the previous BI file"
    if [r[:2] for r in con.execute(f"describe {name}").fetchall()] != \
            [r[:2] for r in con.execute(f"describe select {select} from {source} t").fetchall()]:
        return "its columns changed"  # names and types (a CTAS table's columns are nullable whatever the source's)
    if rule.whole_when and con.execute(f"select {rule.whole_when} from {name}").fetchone() != \
            con.execute(f"select {rule.whole_when} from {source}").fetchone():
        return f"{rule.whole_when} changed"
    # An inner (or left) join with the scope, one row per visitor: DuckDB runs it as a hash join, where an IN or EXISTS
    # with the time condition reads every column of every row first (11 s against 2 s for 10 M touchpoints).
    col, time_ok = rule.scope_column, "true"
    if rule.since:
        time_ok = f"(s.rebuild_from is null or t.{rule.since} >= s.rebuild_from)"
    con.execute(f"create or replace temp table bi_changed as select {select} from {source} t "
                f"inner join {REBUILD_SCOPE} s on s.visitor_key = t.{col} where {time_ok}")
    if rule.key:  # the rows the model rewrote replace theirs
        con.execute(f"delete from {name} where {rule.key} in (select {rule.key} from bi_changed)")
    else:  # every row of the scope's visitors is replaced
        con.execute(f"delete from {name} t where t.{col} in (select visitor_key from {REBUILD_SCOPE})")
    con.execute(f"insert into {name} select * from bi_changed")
    con.execute("drop table bi_changed")
    if rule.refresh:  # an update of two columns, not a delete and insert of every such row (about 511,000)
        r = rule.refresh
        con.execute(f"update {name} as b set {', '.join(f'{c} = t.{c}' for c in r.columns)} from {source} t "
                    f"where {r.where} and {' and '.join(f'b.{k} = t.{k}' for k in r.key)} "
                    f"and ({' or '.join(f'b.{c} is distinct from t.{c}' for c in r.columns)})")
    have, want = (con.execute(f"select count(*) from {n}").fetchone()[0] for n in (name, source))
    if have != want:
        return f"{have} rows after the update against {want} in the build"
    return None


def failpoint(name: str) -> None:
    """Crash tests only: JOURNEY_FAILPOINT=<name> kills this process here, as a power cut would."""
    if os.environ.get("JOURNEY_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def rollback(published: Path) -> Path:
    """Make the previous version the published one again (the current one is kept as `.previous`), and the same for
    its BI file when its previous version is there (a BI file from before that was kept is left as it is)."""
    prev = previous_path(published)
    if not prev.exists():
        raise FileNotFoundError(f"no previous version to roll back to: {prev} does not exist")
    bi = bi_path(published)
    if previous_path(bi).exists():
        _swap_with_previous(bi)
    _swap_with_previous(published)
    return published


def _swap_with_previous(path: Path) -> None:
    """`path` becomes its `.previous`, and the other way round, by hard links: no moment without a file at `path`."""
    prev = previous_path(path)
    swap = path.with_name(path.name + ".rollback")
    swap.unlink(missing_ok=True)
    os.link(prev, swap)
    if path.exists():
        prev.unlink()
        os.link(path, prev)
    os.replace(swap, path)
