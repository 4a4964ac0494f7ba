"""Load raw export files into raw.<source>, quarantining rows that break a rule.

Everything heavy happens inside DuckDB (files are read natively, rules are SQL); Python only walks the
landing folder, hashes files and keeps the books. Guarantees, per file:

- rows read = rows loaded + rows quarantined (checked before the file is registered);
- a file is loaded once: the registry `ops.loaded_files` is keyed by the file's SHA-256, so a file delivered
  again (under any name) adds nothing; rows, quarantine and registry entry are written in one transaction;
- a file that cannot be read at all, or that lacks a required column, raises `IngestError` naming the file
  (and the line or column) and nothing of that file is written.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from expectations.thresholds import default_timestamp_floor
from orchestration.lib.contract import FILE_SUFFIXES, SOURCES, Source, timestamp_sql
from orchestration.lib.warehouse import ensure_tables, quote

DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Events may not be later than their export date plus this many days (clock skew, time zones).
FUTURE_TOLERANCE_DAYS = 2
# Events before the timestamp floor are rejected as garbage: the same floor as the quality gates
# (expectations.thresholds.default_timestamp_floor: 1970-01-01, or JOURNEY_QUALITY_TIMESTAMP_FLOOR), so moving it
# moves quarantine and the gate together.


class IngestError(Exception):
    """A file that cannot be loaded at all. The message names the file and what is wrong with it."""


@dataclass
class FileReport:
    path: str
    export_date: date
    sha256: str
    status: str  # loaded | duplicate | empty
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    new_columns: list[str] = field(default_factory=list)


@dataclass
class SourceReport:
    source: str
    load_id: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_loaded(self) -> int:
        return sum(f.status in ("loaded", "empty") for f in self.files)

    @property
    def files_skipped(self) -> int:
        return sum(f.status == "duplicate" for f in self.files)

    def reasons(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.reasons)
        return dict(total)


def file_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(FILE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def discover_files(landing: Path, source: str, dates: set[date] | None = None) -> list[tuple[date, Path]]:
    """Export files of one source, oldest export date first. Raises on folders that break the layout."""
    root = landing / source
    if not root.is_dir():
        return []
    found: list[tuple[date, Path]] = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith("."):
            continue
        if not folder.is_dir() or not DATE_FOLDER.match(folder.name):
            raise IngestError(
                f"{folder}: expected export folders named YYYY-MM-DD under {root}; move or remove this entry"
            )
        try:
            export_date = date.fromisoformat(folder.name)
        except ValueError as exc:
            raise IngestError(f"{folder}: folder name is not a valid date ({exc})") from exc
        if dates is not None and export_date not in dates:
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith(".") and file_suffix(path):
                found.append((export_date, path))
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[int, str, str]]:
    """Read a CSV into temp table _in (all text, in file order); return malformed lines (ordinal, text, error)."""
    con.execute("drop table if exists _rej_errors; drop table if exists _rej_scans")
    try:
        con.execute(
            f"""
            create or replace temp table _in as
            select * from read_csv({sql_str(str(path))}, all_varchar = true, header = true, delim = ',',
                quote = '"', escape = '"', store_rejects = true, rejects_table = '_rej_errors',
                rejects_scan = '_rej_scans', strict_mode = true, encoding = 'utf-8')
            """
        )
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot be read as CSV: {_first_line(exc)}") from exc
    rejects = con.execute(
        """
        select line - 1 as ordinal, any_value(csv_line) as csv_line,
               string_agg(error_type || ': ' || error_message, '; ') as errors
        from _rej_errors group by line order by line
        """
    ).fetchall()
    return [(int(o), str(line or ""), str(err)) for o, line, err in rejects]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _number_rows(con: duckdb.DuckDBPyConnection, rejected_ordinals: list[int]) -> None:
    """Give the parsed rows of _in their ordinal in the file, skipping the ordinals of rejected lines."""
    good = con.execute("select count(*) from _in").fetchone()[0]
    total = good + len(rejected_ordinals)
    con.execute("create or replace temp table _rejected_ordinals (o bigint)")
    if rejected_ordinals:
        con.executemany("insert into _rejected_ordinals values (?)", [(o,) for o in rejected_ordinals])
    con.execute(
        f"""
        create or replace temp table _in as
        with parsed as (select *, rowid + 1 as _k from _in),
        ordinals as (
            select range as o, row_number() over (order by range) as k
            from range(1, {total} + 1) where range not in (select o from _rejected_ordinals)
        )
        select parsed.* exclude (_k), ordinals.o as _row_number
        from parsed join ordinals on parsed._k = ordinals.k
        """
    )


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[int, str, str]]:
    """Read JSON lines into _in (text columns named by the union of keys); return malformed lines."""
    try:
        con.execute(
            f"""
            create or replace temp table _lines_raw as
            select line
            from read_csv({sql_str(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false,
                          delim = '\x1e', quote = '', escape = '', auto_detect = false, encoding = 'utf-8')
            """
        )
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot be read as JSON lines: {_first_line(exc)}") from exc
    con.execute(
        """
        create or replace temp table _lines as
        with numbered as (select rowid + 1 as line_no, line from _lines_raw)
        select line_no, line,
               case when json_valid(line) then json_type(line) = 'OBJECT' else false end as is_object
        from numbered where line is not null and trim(line) <> ''
        """
    )
    keys = [
        r[0]
        for r in con.execute(
            "select distinct unnest(json_keys(line)) as k from _lines where is_object order by k"
        ).fetchall()
    ]
    if keys:
        cols = ", ".join(f"json_extract_string(line, {sql_str('$.' + _json_path_key(k))}) as {quote(k)}" for k in keys)
        con.execute(
            f"create or replace temp table _in as select {cols}, line_no as _row_number "
            "from _lines where is_object order by line_no"
        )
    else:
        con.execute("create or replace temp table _in as select line_no as _row_number from _lines where false")
    bad = con.execute("select line_no, line from _lines where not is_object order by line_no").fetchall()
    return [(int(n), str(line), "not a JSON object") for n, line in bad]


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[int, str, str]]:
    try:
        names = [
            r[0]
            for r in con.execute(f"describe select * from read_parquet({sql_str(str(path))})").fetchall()
        ]
        cols = ", ".join(f"cast({quote(n)} as varchar) as {quote(n)}" for n in names)
        con.execute(
            f"create or replace temp table _in as select {cols}, file_row_number + 1 as _row_number "
            f"from read_parquet({sql_str(str(path))}, file_row_number = true) order by file_row_number"
        )
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot be read as Parquet: {_first_line(exc)}") from exc
    return []


def read_file(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[int, str, str]]:
    """Read one export into temp table _in (text columns + _row_number); return unparseable records."""
    suffix = file_suffix(path)
    if suffix in (".csv", ".csv.gz"):
        rejects = _read_csv(con, path)
        _number_rows(con, [o for o, _, _ in rejects])
        return rejects
    if suffix in (".jsonl", ".jsonl.gz"):
        return _read_jsonl(con, path)
    if suffix == ".parquet":
        return _read_parquet(con, path)
    raise IngestError(f"{path}: unsupported file type (expected one of {', '.join(FILE_SUFFIXES)})")


def _normalise_header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Lower-case and trim column names (a BOM or stray spaces in a header are not a schema change)."""
    names = [r[0] for r in con.execute("select column_name from (describe _in)").fetchall()]
    clean = {n: n.replace("\ufeff", "").strip().lower() for n in names}
    seen = Counter(clean.values())
    dupes = [n for n, c in seen.items() if c > 1]
    if dupes:
        raise IngestError(f"{path}: column(s) {', '.join(dupes)} appear more than once in the header")
    for old, new in clean.items():
        if old != new:
            con.execute(f"alter table _in rename column {quote(old)} to {quote(new)}")
    return [clean[n] for n in names if clean[n] != "_row_number"]


def _is_blank(col: str) -> str:
    """Empty, or only white space (tabs and non-breaking spaces included, as staging trims them)."""
    return f"(\"{col}\" is null or regexp_matches(\"{col}\", '^[\\s\\x{{00A0}}]*$'))"


def rule_sql(source: Source, export_date: date) -> str:
    """SQL CASE naming the first row rule a row of _in breaks (NULL when the row is loadable)."""
    ts = timestamp_sql(source.timestamp, source.timezone)
    rules = [
        (_is_blank(source.key), "missing_key"),
        (_is_blank(source.timestamp), "missing_timestamp"),
        (f"({ts}) is null", "unparseable_timestamp"),
        (f"({ts}) > date '{export_date.isoformat()}' + interval {FUTURE_TOLERANCE_DAYS} day", "timestamp_in_future"),
        (f"({ts}) < timestamp '{default_timestamp_floor().isoformat()}'", "timestamp_before_floor"),
    ]
    if source.amount:
        amount = f"try_cast(trim(\"{source.amount}\") as decimal(18, 2))"
        rules += [
            (f"{_is_blank(source.amount)} or {amount} is null", "unparseable_amount"),
            (f"{amount} < 0", "negative_amount"),
        ]
    if source.currency:
        rules.append((_is_blank(source.currency), "missing_currency"))
    whens = " ".join(f"when {cond} then '{name}'" for cond, name in rules)
    return f"case {whens} end"


def _detail_sql(source: Source) -> str:
    cols = [source.key, source.timestamp] + ([source.amount] if source.amount else [])
    parts = " || ', ' || ".join(f"'{c}=' || coalesce('''' || \"{c}\" || '''', 'null')" for c in cols)
    return parts


def _field_issue_sql(source: Source) -> list[tuple[str, str, str]]:
    """(column, condition, rule) for optional fields whose bad values are nulled downstream and recorded."""
    checks = []
    for col in source.optional_timestamps:
        checks.append((col, f"not {_is_blank(col)} and ({timestamp_sql(col, source.timezone)}) is null",
                       "unparseable_timestamp"))
    for col in source.numerics:  # all whole numbers (counts, scores, ratings): staging nulls '4.5' too
        number = f"try_cast(trim(\"{col}\") as double)"
        checks.append((col, f"not {_is_blank(col)} and ({number} is null or {number} <> floor({number}))",
                       "unparseable_number"))
    for col, values in source.enums.items():
        allowed = ", ".join(sql_str(v) for v in values)
        checks.append((col, f"not {_is_blank(col)} and lower(trim(\"{col}\")) not in ({allowed})", "unknown_value"))
    return checks


def load_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    path: Path,
    export_date: date,
    landing: Path,
    load_id: str,
    loaded_at: datetime,
) -> FileReport:
    """Load one file (or recognise it as already loaded). Writes nothing if it raises."""
    rel = path.relative_to(landing).as_posix()
    digest = sha256_of(path)
    known = con.execute(
        "select file_path from ops.loaded_files where file_sha256 = ? and status in ('loaded', 'empty') limit 1",
        [digest],
    ).fetchone()
    if known:
        seen = con.execute(
            "select 1 from ops.loaded_files where file_sha256 = ? and file_path = ?", [digest, rel]
        ).fetchone()
        report = FileReport(rel, export_date, digest, "duplicate")
        if not seen:  # first time this copy shows up: note it, once
            _register(con, source, report, path, load_id, loaded_at, detail=f"same content as {known[0]}")
        return report

    size = path.stat().st_size
    if size == 0:
        report = FileReport(rel, export_date, digest, "empty")
        _register(con, source, report, path, load_id, loaded_at, detail="empty file")
        return report

    rejects = read_file(con, path)
    columns = _normalise_header(con, path)
    n_parsed = con.execute("select count(*) from _in").fetchone()[0]
    if not columns and n_parsed == 0 and not rejects:
        report = FileReport(rel, export_date, digest, "empty")
        _register(con, source, report, path, load_id, loaded_at, detail="no records")
        return report
    missing = [c for c in source.columns if c not in columns]
    if missing:
        extra = [c for c in columns if c not in source.columns]
        hint = f"; unexpected column(s) {', '.join(extra)} — renamed?" if extra else ""
        raise IngestError(
            f"{path}: required column(s) {', '.join(missing)} missing from source '{source.name}'{hint}. "
            "Fix the export and deliver it again; nothing of this file was loaded."
        )

    report = FileReport(rel, export_date, digest, "loaded")
    lineage = (
        f"{sql_str(rel)} as _source_file, _row_number, date '{export_date.isoformat()}' as _export_date, "
        f"timestamp '{loaded_at.isoformat(sep=' ')}' as _loaded_at, {sql_str(digest)} as _file_sha256, "
        f"{sql_str(load_id)} as _load_id"
    )
    con.execute("begin transaction")
    try:
        existing = {r[0] for r in con.execute(f"select column_name from (describe raw.{source.name})").fetchall()}
        for col in columns:
            if col not in existing:
                con.execute(f"alter table raw.{source.name} add column {quote(col)} varchar")
                con.execute(
                    "insert into ops.schema_changes values (?, ?, ?, 'added_column', ?, ?)",
                    [source.name, rel, col, load_id, loaded_at],
                )
                report.new_columns.append(col)
        con.execute(
            f"create or replace temp table _checked as select *, {rule_sql(source, export_date)} as _rule from _in"
        )
        col_list = ", ".join(quote(c) for c in columns)
        con.execute(
            f"insert into raw.{source.name} ({col_list}, _source_file, _row_number, _export_date, _loaded_at, "
            f"_file_sha256, _load_id) select {col_list}, {lineage} from _checked where _rule is null"
        )
        record_json = "to_json(struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in columns) + "))"
        con.execute(
            f"insert into quarantine.{source.name} select {lineage}, _rule, {_detail_sql(source)}, {record_json} "
            "from _checked where _rule is not null"
        )
        for ordinal, line, error in rejects:
            con.execute(
                f"insert into quarantine.{source.name} select {lineage.replace('_row_number', '?')}, "
                "'malformed_record', ?, ?",
                [ordinal, error[:1000], line],
            )
        for col, cond, rule in _field_issue_sql(source):
            con.execute(
                f"insert into ops.field_issues select {sql_str(source.name)}, {sql_str(rel)}, _row_number, "
                f"{sql_str(load_id)}, {sql_str(col)}, {quote(col)}, {sql_str(rule)} "
                f"from _checked where _rule is null and {cond}"
            )
        counts = dict(
            con.execute("select _rule, count(*) from _checked where _rule is not null group by 1").fetchall()
        )
        if rejects:
            counts["malformed_record"] = len(rejects)
        report.rows_quarantined = sum(counts.values())
        report.rows_loaded = con.execute("select count(*) from _checked where _rule is null").fetchone()[0]
        report.rows_read = n_parsed + len(rejects)
        report.reasons = {str(k): int(v) for k, v in counts.items()}
        if report.rows_read != report.rows_loaded + report.rows_quarantined:  # the books must balance
            raise IngestError(f"{path}: reconciliation failed: {report}")
        _register(con, source, report, path, load_id, loaded_at, size=size)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return report


def _register(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    report: FileReport,
    path: Path,
    load_id: str,
    loaded_at: datetime,
    size: int | None = None,
    detail: str | None = None,
) -> None:
    con.execute(
        "insert into ops.loaded_files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            report.sha256, source.name, report.path, report.export_date,
            size if size is not None else path.stat().st_size, report.rows_read, report.rows_loaded,
            report.rows_quarantined, report.status, load_id, loaded_at,
            detail if detail is not None else (str(report.reasons) if report.reasons else None),
        ],
    )


def load_source(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    landing: Path,
    load_id: str,
    loaded_at: datetime,
    run_id: str = "",
    dates: set[date] | None = None,
) -> SourceReport:
    """Load every new file of one source; record the load in ops.loads."""
    source = SOURCES[source_name]
    ensure_tables(con)
    report = SourceReport(source_name, load_id)
    for export_date, path in discover_files(landing, source_name, dates):
        report.files.append(load_file(con, source, path, export_date, landing, load_id, loaded_at))
    con.execute(
        "insert into ops.loads values (?, ?, ?, ?, now() at time zone 'UTC', ?, ?, ?, ?, ?, ?)",
        [
            load_id, source_name, run_id, loaded_at, len(report.files), report.files_loaded, report.files_skipped,
            report.rows_read, report.rows_loaded, report.rows_quarantined,
        ],
    )
    return report
