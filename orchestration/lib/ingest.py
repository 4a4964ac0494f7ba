"""Load raw export files into raw.<source>, quarantining rows that break a rule.

Everything heavy happens inside DuckDB (files are read natively, rules are SQL); Python only walks the
landing folder, hashes files, reads CSV headers and keeps the books. A load of one source:

1. hashes every export file (SHA-256, the registry's key). A file whose content is already registered in
   `ops.loaded_files` (under any name), or that comes again later in the same batch (two identical files
   delivered in one night), is a duplicate; a zero-byte file is empty;
2. reads the remaining new files in one statement per format and layout: every CSV file with the same header
   in one `read_csv([...])`, given the dialect and the columns of the header (read here, never sniffed), every
   JSON lines file in one line-by-line `read_csv([...])`, every Parquet file with the same schema in one
   `read_parquet([...])`; each row keeps its file and its ordinal in that file;
3. judges the union once (row rules, optional fields) and writes rows, quarantine, field issues, schema changes,
   one registry row per file and the `ops.loads` row in ONE transaction.

Guarantees, per file:

- rows read = rows loaded + rows quarantined (checked before anything is committed);
- a file is loaded once: the registry is keyed by the file's SHA-256, so a file delivered again adds nothing and
  is noted once as `duplicate`;
- a file that cannot be read at all (truncated gzip, unterminated quote), or whose header lacks a required column
  or repeats one, raises `IngestError` naming the file (and the line or column). The whole batch of the source
  is then left unwritten, not only that file: the run fails anyway and publishes nothing, and the next run
  loads the source's other new files together with the repaired one.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
import tempfile
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from orchestration.lib.privacy import KEY_ENV, suppressed_rows_sql
from orchestration.lib.warehouse import ensure_tables, quote
from rules.contract import FILE_SUFFIXES, LINEAGE_COLUMNS, SOURCES, Source, timestamp_sql
from rules.thresholds import FUTURE_TOLERANCE, default_timestamp_floor

DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Events before the timestamp floor are rejected as garbage: the same floor as the quality gates
# (rules.thresholds.default_timestamp_floor: 1970-01-01, or JOURNEY_QUALITY_TIMESTAMP_FLOOR), so moving it
# moves quarantine and the gate together.

# Internal columns of the batch tables; export columns may not use these names (nor the lineage columns').
FILE_ID, PATH, ROW = "__file", "__path", "__row_number"
# The one CSV dialect of the export contract (RFC 4180, UTF-8), given to DuckDB instead of sniffing it: the
# sniffer refuses a whole file for one malformed line (a cut-short last line) that the contract quarantines.
CSV_DIALECT = ("header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', strict_mode = true, "
               "encoding = 'utf-8'")
TEMP_VIEWS = {"_json"}  # the other temp objects of a load are tables
HASH_THREADS = 4  # hashing is I/O and hashlib releases the GIL: a few threads keep the disk busy


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
    rows_suppressed: int = 0  # rows carrying an identifier on the suppression list: dropped, no copy kept
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
    def rows_suppressed(self) -> int:
        return sum(f.rows_suppressed for f in self.files)

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


@dataclass
class NewFile:
    """A file of this batch to be read: its report, what DuckDB is given to read, and its columns."""

    id: int
    path: Path
    report: FileReport
    size: int
    kind: str  # csv | json | parquet
    read_path: str  # the file itself, or a copy with consistent line endings (see _repair_line_endings)
    columns: list[str] = field(default_factory=list)  # normalised export columns in the file's order
    keys: list[str] = field(default_factory=list)  # JSON: the keys as delivered, matching `columns`
    layout: int = 0  # files of one layout have the same columns in the same order
    parsed: int = 0  # records read into columns (the others are in _malformed)
    records: int = 0  # JSON: non-blank lines
    detail: str | None = None  # registry note


def new_load_id(source_name: str) -> str:
    """The id of one load of a source: its start time (UTC), the source and a random part."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{source_name}-{uuid.uuid4().hex[:8]}"


def file_suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(FILE_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def file_kind(path: Path) -> str:
    suffix = file_suffix(path) or ""
    return "csv" if suffix.startswith(".csv") else "json" if suffix.startswith(".jsonl") else "parquet"


def check_landing(landing: Path) -> None:
    """Raise IngestError when `landing` is not a landing folder: it must exist and hold at least one of the source
    folders. The message names what was found and what was expected (and a subfolder that looks like the landing
    folder, e.g. `seeds/landing` when `seeds` was given)."""
    expected = f"expected <landing>/<source>/<YYYY-MM-DD>/files with <source> one of {', '.join(SOURCES)}"
    if not landing.is_dir():
        raise IngestError(f"landing folder {landing} does not exist ({expected})")
    if any((landing / source).is_dir() for source in SOURCES):
        return
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in landing.iterdir() if not p.name.startswith("."))
    found = ", ".join(entries[:12]) + (f" and {len(entries) - 12} more" if len(entries) > 12 else "") or "nothing"
    hint = next((f"; {landing / name.rstrip('/')} holds source folders: did you mean --landing "
                 f"{landing / name.rstrip('/')}?" for name in entries
                 if name.endswith("/") and any((landing / name / source).is_dir() for source in SOURCES)), "")
    raise IngestError(f"{landing} holds none of the source folders: found {found}; {expected}{hint}")


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


def sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# ------------------------------------------------------------------------------------------- column names
def normalise_columns(path: Path, names: list[str]) -> list[str]:
    """Lower-case and trim column names (a BOM or stray spaces in a header are not a schema change).

    An empty name gets DuckDB's generated name (column0, column01, ...), as when DuckDB read the header itself.
    Raises IngestError for a name that appears twice, or one that would clash with the lineage columns."""
    width = len(str(len(names) - 1)) if len(names) > 10 else 1
    clean = [n.replace("\ufeff", "").strip().lower() or f"column{i:0{width}d}" for i, n in enumerate(names)]
    dupes = [n for n, c in Counter(clean).items() if c > 1]
    if dupes:
        raise IngestError(f"{path}: column(s) {', '.join(dupes)} appear more than once in the header. "
                          "Fix the export and deliver it again; nothing of this file was loaded.")
    reserved = [n for n in clean if n in LINEAGE_COLUMNS or n.startswith("__")]
    if reserved:
        raise IngestError(f"{path}: column(s) {', '.join(reserved)} clash with the warehouse's lineage columns; "
                          "rename them in the export")
    return clean


def _csv_header(path: Path) -> list[str] | None:
    """The column names of a CSV file's header row as delivered (None: the file holds only white space)."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(1 << 20)
            rest = handle.read(1 << 16) if not first.strip() else b""
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{path}: cannot be read as CSV: {_first_line(exc)}") from exc
    if not first.strip():
        if rest.strip():
            raise IngestError(f"{path}: line 1 is empty; a CSV export starts with its header row")
        return None
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: line 1 (the header) is not valid UTF-8: {exc}") from exc
    try:
        return next(csv.reader([text.rstrip("\r\n")], strict=True))
    except csv.Error as exc:
        raise IngestError(f"{path}: line 1 (the header) cannot be read as CSV: {exc}") from exc


# ------------------------------------------------------------------------------------------------ reading
def _files_table(con: duckdb.DuckDBPyConnection, name: str, files: list[NewFile]) -> None:
    """A temp table mapping what DuckDB read (its filename column) to the file's id."""
    con.execute(
        f"create or replace temp table {name} as select unnest(?::varchar[]) as {PATH}, unnest(?::integer[]) as {FILE_ID}",
        [[f.read_path for f in files], [f.id for f in files]],
    )


def _culprit(message: str, files: list[NewFile]) -> NewFile | None:
    """The file a DuckDB error message names (the longest path that appears in it), if any."""
    named = [f for f in files if f.read_path in message]
    return max(named, key=lambda f: len(f.read_path)) if named else None


Statement = Callable[[list[NewFile]], str]


def _read_batch(con: duckdb.DuckDBPyConnection, files: list[NewFile], statement: Statement, what: str,
                repair: Callable[[NewFile, str], bool] | None = None) -> None:
    """Run `statement(files)`; on failure find the file to blame and raise IngestError naming it.

    `repair(file, message)` may return True when it fixed the file's read_path (the batch is then tried again)."""
    for _ in range(len(files) + 1):
        try:
            con.execute(statement(files))
            return
        except duckdb.Error as exc:
            message = str(exc)
            culprit = _culprit(message, files) or _probe(con, files, statement)
            if culprit is None:  # every file reads on its own: not a problem of the data (memory, disk, ...)
                raise
        if repair is None or not repair(culprit, message):
            detail = _first_line(Exception(message.replace(culprit.read_path, str(culprit.path))))
            raise IngestError(f"{culprit.path}: cannot be read as {what}: {detail}. "
                              "Fix the export and deliver it again; nothing of this file was loaded.")
    raise IngestError(f"{files[0].path} ...: cannot be read as {what}")  # pragma: no cover (repairs exhausted)


def _probe(con: duckdb.DuckDBPyConnection, files: list[NewFile], statement: Statement) -> NewFile | None:
    """Read the files one by one to find the first that fails (only when an error names no file)."""
    for f in files:
        try:
            con.execute(statement([f]))
        except duckdb.Error:
            return f
    return None


def _number_rows(con: duckdb.DuckDBPyConnection, table: str, files: list[NewFile]) -> str:
    """A temp table of `table`'s files: their id and the rowid of their first row (rows of a file are contiguous
    and in file order: DuckDB reads a list of files in order and a table keeps insertion order). Returns its name."""
    ids = f"{table}_ids"
    _files_table(con, ids, files)
    con.execute(
        f"create or replace temp table {table}_files as "
        f"select i.{PATH}, i.{FILE_ID}, r.first, r.n, r.last from {ids} i "
        f"left join (select {PATH}, min(rowid) as first, max(rowid) as last, count(*) as n from {table} group by 1) r "
        f"using ({PATH})"
    )
    broken = con.execute(f"select {PATH} from {table}_files where n <> last - first + 1 limit 1").fetchone()
    if broken:  # never seen; guards the numbering against a DuckDB that reorders (preserve_insertion_order off)
        raise RuntimeError(f"{broken[0]}: rows of the file were not read in order; cannot number them")
    rows = dict(con.execute(f"select {FILE_ID}, coalesce(n, 0) from {table}_files").fetchall())
    for f in files:
        f.parsed = rows.get(f.id, 0)
    return f"{table}_files"


def _read_csv_layout(con: duckdb.DuckDBPyConnection, table: str, files: list[NewFile], tmp: Path) -> str:
    """Read CSV files of one layout into `table` (one statement); returns the SELECT of their numbered rows."""
    columns = files[0].columns
    spec = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in columns) + "}"

    def statement(batch: list[NewFile]) -> str:
        return (
            f"drop table if exists {table}_rej; drop table if exists {table}_scan; "
            f"create or replace temp table {table} as select * from read_csv({sql_list([f.read_path for f in batch])}, "
            f"columns = {spec}, {CSV_DIALECT}, store_rejects = true, rejects_table = '{table}_rej', "
            f"rejects_scan = '{table}_scan', filename = '{PATH}')"
        )

    _read_batch(con, files, statement, "CSV", repair=lambda f, _: _repair_line_endings(f, tmp))
    numbered = _number_rows(con, table, files)
    # Lines DuckDB could not split into the header's fields (or decode): quarantined whole, with their ordinal.
    # DuckDB counts records (a quoted line break does not start a new one), header included: ordinal = line - 1.
    con.execute(
        f"""
        create or replace temp table {table}_bad as
        select m.{FILE_ID}, e.line - 1 as ordinal,
               ltrim(any_value(e.csv_line), chr(13) || chr(10)) as line,
               string_agg(e.error_type || ': ' || e.error_message, '; ') as errors
        from {table}_rej e join {table}_scan s using (scan_id, file_id) join {numbered} m on m.{PATH} = s.file_path
        group by all
        """
    )
    _refuse_unterminated_quotes(con, f"{table}_bad", files)
    con.execute(f"insert into _malformed select {FILE_ID}, ordinal, left(errors, 1000), line from {table}_bad")
    cols = ", ".join(quote(c) for c in columns)
    if not con.execute(f"select count(*) from {table}_bad").fetchone()[0]:
        return (f"select {cols}, m.{FILE_ID}, r.rowid - m.first + 1 as {ROW} "
                f"from {table} r join {numbered} m using ({PATH})")
    # Good rows take the ordinals the rejected lines left free: the k-th good row of a file is row k plus the
    # number of rejected lines before it (those with fewer than k good rows ahead of them).
    con.execute(
        f"""
        create or replace temp table {table}_steps as
        select {FILE_ID}, ordinal - i as good_before, max(i) as shift
        from (select {FILE_ID}, ordinal, row_number() over (partition by {FILE_ID} order by ordinal) as i
              from {table}_bad)
        group by all
        """
    )
    return (
        f"select {cols}, g.{FILE_ID}, g.k + coalesce(s.shift, 0) as {ROW} from "
        f"(select r.*, m.{FILE_ID}, r.rowid - m.first + 1 as k from {table} r join {numbered} m using ({PATH})) g "
        f"asof left join {table}_steps s on g.{FILE_ID} = s.{FILE_ID} and g.k > s.good_before"
    )


def _refuse_unterminated_quotes(con: duckdb.DuckDBPyConnection, bad: str, files: list[NewFile]) -> None:
    """A quote never closed swallows the rest of the file into one rejected 'line' (an odd number of quotes, or
    line breaks inside it): the records after it cannot be counted, so the file is refused. A stray quote within
    one line is only a malformed record."""
    hit = con.execute(
        f"select {FILE_ID}, ordinal + 1 from {bad} "
        "where (length(line) - length(replace(line, '\"', ''))) % 2 = 1 "
        "or contains(rtrim(line, chr(13) || chr(10)), chr(10)) order by 1, 2 limit 1"
    ).fetchone()
    if hit:
        path = next(f.path for f in files if f.id == hit[0])
        raise IngestError(
            f"{path}: line {hit[1]}: a quoted field is not closed where its line ends (unterminated quote), so the "
            "records after it cannot be told apart. Fix the export and deliver it again; nothing of this file was "
            "loaded."
        )


def _repair_line_endings(f: NewFile, tmp: Path) -> bool:
    """A CSV file mixing CRLF and LF line ends (a line appended by another tool, an export cut short and patched)
    stops DuckDB's strict parser. Read instead a copy whose line ends all follow the header's; the lines, and
    so the ordinals, stay the same. False when that is not the file's problem."""
    if f.read_path != str(f.path):
        return False
    try:
        data = gzip.decompress(f.path.read_bytes()) if f.path.name.lower().endswith(".gz") else f.path.read_bytes()
    except (OSError, EOFError, zlib.error):
        return False
    crlf = data.count(b"\r\n")
    if not crlf or crlf == data.count(b"\n"):
        return False
    header_crlf = data.split(b"\n", 1)[0].endswith(b"\r")
    data = re.sub(rb"(?<!\r)\n", b"\r\n", data) if header_crlf else data.replace(b"\r\n", b"\n")
    copy = tmp / f"{f.id}.csv"
    copy.write_bytes(data)
    f.read_path = str(copy)
    return True


def _read_json_files(con: duckdb.DuckDBPyConnection, files: list[NewFile]) -> None:
    """Read every JSON lines file line by line (one statement); _json shows the non-blank lines with their file
    and line number, and whether they hold a JSON object. Sets each file's columns (the keys of its objects)."""

    def statement(batch: list[NewFile]) -> str:
        return (
            f"create or replace temp table _json_lines as select line, {PATH}, "
            "case when json_valid(line) then json_type(line) = 'OBJECT' else false end as is_object "
            f"from read_csv({sql_list([f.read_path for f in batch])}, columns = {{'line': 'VARCHAR'}}, header = false, "
            f"delim = '\x1e', quote = '', escape = '', auto_detect = false, encoding = 'utf-8', filename = '{PATH}')"
        )

    _read_batch(con, files, statement, "JSON lines")
    numbered = _number_rows(con, "_json_lines", files)
    # _row_number of a JSON record is its line number (blank lines count, as they are lines of the file)
    con.execute(
        f"""
        create or replace temp view _json as
        select m.{FILE_ID}, l.rowid - m.first + 1 as {ROW}, l.line, l.is_object
        from _json_lines l join {numbered} m using ({PATH})
        where l.line is not null and trim(l.line) <> ''
        """
    )
    con.execute(f"insert into _malformed select {FILE_ID}, {ROW}, 'not a JSON object', line from _json where not is_object")
    counts = {i: (objects, lines) for i, objects, lines in con.execute(
        f"select {FILE_ID}, count(*) filter (where is_object), count(*) from _json group by 1").fetchall()}
    keys: dict[int, list[str]] = {}
    for file_id, key in con.execute(
        f"select distinct {FILE_ID}, unnest(json_keys(line)) as k from _json where is_object order by 1, 2"
    ).fetchall():
        keys.setdefault(file_id, []).append(key)
    for f in files:
        f.keys = keys.get(f.id, [])
        f.columns = normalise_columns(f.path, f.keys)
        f.parsed, f.records = counts.get(f.id, (0, 0))


def _json_select(files: list[NewFile]) -> str | None:
    """The SELECT of every JSON record's fields as text, one column per (normalised) key of any file."""
    by_column: dict[str, list[str]] = {}
    for f in files:
        for key, col in zip(f.keys, f.columns, strict=True):
            if key not in by_column.setdefault(col, []):
                by_column[col].append(key)
    if not by_column:
        return None
    paths = [f"$.{_json_path_key(k)}" for keys in by_column.values() for k in keys]
    position = iter(range(1, len(paths) + 1))
    fields = ", ".join(
        f"coalesce({', '.join(f'v[{next(position)}]' for _ in keys)}) as {quote(col)}" if len(keys) > 1
        else f"v[{next(position)}] as {quote(col)}"
        for col, keys in by_column.items()
    )
    return (f"select {fields}, {FILE_ID}, {ROW} from "
            f"(select json_extract_string(line, {sql_list(paths)}) as v, {FILE_ID}, {ROW} from _json where is_object)")


def _json_path_key(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'


def _read_parquet_files(con: duckdb.DuckDBPyConnection, files: list[NewFile]) -> list[str]:
    """Read Parquet files, one statement per schema (columns cast to text); returns the SELECTs of their rows."""

    def schema_statement(batch: list[NewFile]) -> str:
        return (f"create or replace temp table _pq_schema as select file_name, list((name, type, converted_type, "
                f"logical_type, num_children, repetition_type)) as parts "
                f"from parquet_schema({sql_list([f.read_path for f in batch])}) group by 1")

    _read_batch(con, files, schema_statement, "Parquet")
    schemas = dict(con.execute("select file_name, parts::varchar from _pq_schema").fetchall())
    groups: dict[str, list[NewFile]] = {}
    for f in files:
        groups.setdefault(schemas.get(f.read_path, ""), []).append(f)
    selects = []
    for n, group in enumerate(groups.values()):
        table = f"_pq{n}"
        try:
            names = [r[0] for r in con.execute(
                f"describe select * from read_parquet({sql_str(group[0].read_path)})").fetchall()]
        except duckdb.Error as exc:
            raise IngestError(f"{group[0].path}: cannot be read as Parquet: {_first_line(exc)}") from exc
        columns = normalise_columns(group[0].path, names)
        for f in group:
            f.columns = columns
        casts = ", ".join(f"cast({quote(n)} as varchar) as {quote(c)}" for n, c in zip(names, columns, strict=True))

        def statement(batch: list[NewFile], table=table, casts=casts) -> str:
            return (f"create or replace temp table {table} as select {casts}, {PATH}, file_row_number + 1 as {ROW} "
                    f"from read_parquet({sql_list([f.read_path for f in batch])}, filename = '{PATH}', "
                    "file_row_number = true)")

        _read_batch(con, group, statement, "Parquet")
        _files_table(con, f"{table}_ids", group)
        rows = dict(con.execute(f"select {FILE_ID}, count(*) from {table} join {table}_ids using ({PATH}) group by 1")
                    .fetchall())
        for f in group:
            f.parsed = rows.get(f.id, 0)
        cols = ", ".join(quote(c) for c in columns)
        selects.append(f"select {cols}, m.{FILE_ID}, r.{ROW} from {table} r join {table}_ids m using ({PATH})")
    return selects


def _is_blank(col: str) -> str:
    """Empty, or only white space (tabs and non-breaking spaces included, as staging trims them).

    The regular expression only runs on values that start with such a character (ord: the first code point),
    which few do: it is the costliest part of the rules otherwise."""
    c = quote(col)
    return (f"({c} is null or {c} = '' or (ord({c}) in (9, 10, 12, 13, 32, 160) "
            f"and regexp_matches({c}, '^[\\s\\x{{00A0}}]*$')))")


def rule_sql(source: Source, export_date: str = "_export_date") -> str:
    """SQL CASE naming the first row rule a row breaks (NULL when the row is loadable).

    The row carries __ts (its main timestamp, parsed) and, for sources with money, __amount (the amount, parsed):
    see judged_sql, which computes them once. `export_date` is the SQL of the row's export date."""
    rules = [
        (_is_blank(source.key), "missing_key"),
        (_is_blank(source.timestamp), "missing_timestamp"),
        ("__ts is null", "unparseable_timestamp"),
        (f"__ts > {export_date} + interval {FUTURE_TOLERANCE.days} day", "timestamp_in_future"),
        (f"__ts < timestamp '{default_timestamp_floor().isoformat()}'", "timestamp_before_floor"),
    ]
    if source.amount:
        rules += [
            (f"{_is_blank(source.amount)} or __amount is null", "unparseable_amount"),
            ("__amount < 0", "negative_amount"),
        ]
    if source.currency:
        rules.append((_is_blank(source.currency), "missing_currency"))
    whens = " ".join(f"when {cond} then '{name}'" for cond, name in rules)
    return f"case {whens} end"


def judged_sql(source: Source, rows: str) -> str:
    """`rows` (a SELECT with the export columns and _export_date) with _rule (rule_sql) and __issues (the optional
    fields to record, a list of structs column_name/value/rule). Parsed values are computed once per row: the
    main timestamp appears in three rules, and DuckDB does not share it between the branches of a CASE."""
    parsed = f"{timestamp_sql(source.timestamp, source.timezone)} as __ts"
    if source.amount:
        parsed += f", try_cast(trim({quote(source.amount)}) as decimal(18, 2)) as __amount"
    issues = [f"case when {cond} then struct_pack(column_name := {sql_str(col)}, value := {quote(col)}, "
              f"rule := {sql_str(rule)}) end" for col, cond, rule in _field_issue_sql(source)]
    issues_sql = f"list_filter([{', '.join(issues)}], lambda x: x is not null)" if issues else "[]"
    hidden = "__ts, __amount" if source.amount else "__ts"
    return (f"select * exclude ({hidden}), {rule_sql(source)} as _rule, {issues_sql} as __issues "
            f"from (select *, {parsed} from ({rows}))")


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
        checks.append((col, f"({number} is null or {number} <> floor({number})) and not {_is_blank(col)}",
                       "unparseable_number"))
    for col, values in source.enums.items():
        allowed = ", ".join(sql_str(v) for v in values)
        checks.append((col, f"lower(trim(\"{col}\")) not in ({allowed}) and not {_is_blank(col)}", "unknown_value"))
    return checks


def load_source(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    landing: Path,
    load_id: str,
    loaded_at: datetime,
    run_id: str = "",
    dates: set[date] | None = None,
    privacy_key: str | None = None,
) -> SourceReport:
    """Load every new file of one source in one batch; record the load in ops.loads.

    Rows carrying an identifier on the suppression list (ops.suppressions, keyed with `privacy_key`) are dropped
    and counted per file as suppressed (orchestration/lib/privacy.py)."""
    source = SOURCES[source_name]
    ensure_tables(con)
    report = SourceReport(source_name, load_id)
    found = discover_files(landing, source_name, dates)
    new, register = triage(con, found, hash_files([path for _, path in found]), landing, report)
    load_files(con, source, report, new, register, load_id, loaded_at, run_id, privacy_key)
    return report


def hash_files(paths: list[Path]) -> list[str]:
    """The SHA-256 of each file, in order (a few threads keep the disk busy)."""
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return list(pool.map(sha256_of, paths))


def load_files(
    con: duckdb.DuckDBPyConnection, source: Source, report: SourceReport, new: list[NewFile],
    register: list[NewFile], load_id: str, loaded_at: datetime, run_id: str = "", privacy_key: str | None = None,
) -> None:
    """Read the `new` files of a triaged batch, judge their rows and write them, with the books of the batch and
    the registry rows of `register`, in one transaction (or nothing). The Spark engine runs this on its executors,
    a group of files each (orchestration/spark_ingest.py)."""
    temp_tables: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="journey_ingest_") as tmp:
            select = _read_new_files(con, source, new, Path(tmp), temp_tables)
        _check_columns(source, new)
        _write_batch(con, source, report, new, register, select, load_id, loaded_at, run_id, privacy_key)
    finally:
        for table in temp_tables:
            con.execute(f"drop {'view' if table in TEMP_VIEWS else 'table'} if exists {table}")


def pending_export_dates(registry: set[tuple[str, str]], landing: Path) -> list[date]:
    """Export dates that hold a file the registry does not know yet as (checksum, path below landing): the dates a
    run must load. `registry` is ops.loaded_files' (file_sha256, file_path) pairs; a copy of a loaded file under a
    new name is pending too, so it is noted once as a duplicate. Raises IngestError for a stray folder."""
    found = [(export_date, path) for source in SOURCES for export_date, path in discover_files(landing, source)]
    digests = hash_files([path for _, path in found])
    return sorted({export_date for (export_date, path), digest in zip(found, digests, strict=True)
                   if (digest, path.relative_to(landing).as_posix()) not in registry})


def triage(
    con: duckdb.DuckDBPyConnection, found: list[tuple[date, Path]], digests: list[str], landing: Path,
    report: SourceReport,
) -> tuple[list[NewFile], list[NewFile]]:
    """Sort the batch into files to read and files only to register (duplicates, empty files), in order."""
    known: dict[str, str] = {}  # checksum -> a file loaded with that content
    seen: set[tuple[str, str]] = set()  # (checksum, path) already in the registry
    for digest, path, status in con.execute(
        "select file_sha256, file_path, status from ops.loaded_files where file_sha256 in (select unnest(?::varchar[])) "
        "order by loaded_at, file_path", [sorted(set(digests))]
    ).fetchall():
        seen.add((digest, path))
        if status in ("loaded", "empty"):
            known.setdefault(digest, path)
    new: list[NewFile] = []
    register: list[NewFile] = []
    for (export_date, path), digest in zip(found, digests, strict=True):
        rel = path.relative_to(landing).as_posix()
        size = path.stat().st_size
        entry = NewFile(len(report.files), path, FileReport(rel, export_date, digest, "loaded"), size,
                         file_kind(path), str(path))
        report.files.append(entry.report)
        if digest in known:  # already loaded, or earlier in this batch (two identical files in one night)
            entry.report.status = "duplicate"
            if (digest, rel) not in seen:  # first time this copy shows up: note it, once
                entry.detail = f"same content as {known[digest]}"
                register.append(entry)
                seen.add((digest, rel))
            continue
        known[digest] = rel
        if size == 0:
            entry.report.status, entry.detail = "empty", "empty file"
            register.append(entry)
        else:
            new.append(entry)
            register.append(entry)
    return new, register


def _read_new_files(
    con: duckdb.DuckDBPyConnection, source: Source, new: list[NewFile], tmp: Path, temp_tables: list[str]
) -> str | None:
    """Read every new file into temp tables (one statement per format and layout); fill _malformed with the
    records that could not be parsed. Returns the SELECT of all parsed rows (export columns, file id, ordinal)."""
    con.execute(f"create or replace temp table _malformed ({FILE_ID} integer, {ROW} bigint, _detail varchar, "
                "_record varchar)")
    temp_tables.append("_malformed")
    selects: list[str] = []
    csv_files = [f for f in new if f.kind == "csv"]
    layouts: dict[tuple[str, ...], list[NewFile]] = {}
    for f in csv_files:
        header = _csv_header(f.path)
        if header is None:  # only white space: no header, no records
            f.report.status, f.detail = "empty", "no records"
            continue
        f.columns = normalise_columns(f.path, header)
        layouts.setdefault(tuple(f.columns), []).append(f)
    for n, group in enumerate(layouts.values()):
        temp_tables += [f"_csv{n}{s}" for s in ("", "_rej", "_scan", "_ids", "_files", "_bad", "_steps")]
        selects.append(_read_csv_layout(con, f"_csv{n}", group, tmp))
    json_files = [f for f in new if f.kind == "json"]
    if json_files:
        temp_tables += ["_json", "_json_lines", "_json_lines_ids", "_json_lines_files"]
        _read_json_files(con, json_files)
        json_select = _json_select(json_files)
        if json_select:
            selects.append(json_select)
    parquet_files = [f for f in new if f.kind == "parquet"]
    if parquet_files:
        temp_tables += ["_pq_schema"] + [f"_pq{n}{s}" for n in range(len(parquet_files)) for s in ("", "_ids")]
        selects += _read_parquet_files(con, parquet_files)
    layout_ids: dict[tuple[str, ...], int] = {}
    for f in new:
        f.layout = layout_ids.setdefault(tuple(f.columns), len(layout_ids))
    return " union all by name ".join(f"({s})" for s in selects) or None


def _check_columns(source: Source, new: list[NewFile]) -> None:
    """Every file of the batch has the required columns (else nothing of the batch is written)."""
    for f in new:
        if f.kind == "json" and not f.columns and f.records == 0:  # only blank lines
            f.report.status, f.detail = "empty", "no records"
        if f.report.status == "empty":
            continue
        missing = [c for c in source.columns if c not in f.columns]
        if missing:
            extra = [c for c in f.columns if c not in source.columns]
            hint = f"; unexpected column(s) {', '.join(extra)} — renamed?" if extra else ""
            raise IngestError(
                f"{f.path}: required column(s) {', '.join(missing)} missing from source '{source.name}'{hint}. "
                "Fix the export and deliver it again; nothing of this file was loaded."
            )


def _write_batch(
    con: duckdb.DuckDBPyConnection, source: Source, report: SourceReport, new: list[NewFile],
    register: list[NewFile], select: str | None, load_id: str, loaded_at: datetime, run_id: str,
    privacy_key: str | None = None,
) -> None:
    """Judge the batch's rows once and write everything of it in one transaction (or nothing).

    One pass over the rows keeps only those that break a rule or carry a field issue (_flagged, small); the
    insert into raw.<source> is a second pass that leaves out the rejected ones."""
    files = [f for f in new if f.report.status == "loaded"]
    con.execute(
        f"create or replace temp table _batch_files as select unnest(?::integer[]) as {FILE_ID}, "
        "unnest(?::varchar[]) as _source_file, unnest(?::date[]) as _export_date, unnest(?::varchar[]) as _file_sha256, "
        "unnest(?::integer[]) as __layout",
        [[f.id for f in files], [f.report.path for f in files], [f.report.export_date for f in files],
         [f.report.sha256 for f in files], [f.layout for f in files]],
    )
    if select:
        con.execute(f"create or replace temp view _rows as select b.*, f._source_file, f._export_date, "
                    f"f._file_sha256, f.__layout from ({select}) b join _batch_files f using ({FILE_ID})")
    columns = list(dict.fromkeys(c for f in files for c in f.columns))
    con.execute(f"create or replace temp table _suppressed ({FILE_ID} integer, {ROW} bigint)")
    suppressing = select and con.execute("select count(*) from ops.suppressions").fetchone()[0] > 0
    if suppressing:
        if not privacy_key:
            raise IngestError("the suppression list holds entries but the privacy key is missing "
                              f"({KEY_ENV} or the key file beside the warehouse): restore it; nothing was loaded")
        condition = suppressed_rows_sql(source.name, "r", available=set(columns))
        if condition:
            con.execute(f"insert into _suppressed select {FILE_ID}, {ROW} from _rows r where {condition}",
                        {"key": privacy_key})
    if select:
        con.execute(f"create or replace temp table _flagged as select * from ({judged_sql(source, 'select * from _rows')}) "
                    f"anti join _suppressed using ({FILE_ID}, {ROW}) where _rule is not null or len(__issues) > 0")
    loaded_at_sql = f"timestamp '{loaded_at.isoformat(sep=' ')}'"
    lineage = (f"_source_file, {ROW} as _row_number, _export_date, {loaded_at_sql} as _loaded_at, _file_sha256, "
               f"{sql_str(load_id)} as _load_id")
    con.execute("begin transaction")
    try:
        _add_new_columns(con, source, files, load_id, loaded_at)
        inserted = quarantined = 0
        if select and columns:
            col_list = ", ".join(quote(c) for c in columns)
            inserted = _count(con.execute(
                f"insert into raw.{source.name} ({col_list}, _source_file, _row_number, _export_date, _loaded_at, "
                f"_file_sha256, _load_id) select {col_list}, {lineage} from _rows "
                f"anti join (select {FILE_ID}, {ROW} from _flagged where _rule is not null) using ({FILE_ID}, {ROW}) "
                f"anti join _suppressed using ({FILE_ID}, {ROW})"
            ))
            for layout, layout_columns in sorted({f.layout: f.columns for f in files}.items()):
                record = "to_json(struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in layout_columns) + "))"
                quarantined += _count(con.execute(
                    f"insert into quarantine.{source.name} select {lineage}, _rule, {_detail_sql(source)}, {record} "
                    f"from _flagged where _rule is not null and __layout = {layout}"
                ))
            con.execute(
                f"insert into ops.field_issues select {sql_str(source.name)}, _source_file, {ROW}, {sql_str(load_id)}, "
                "i.column_name, i.value, i.rule from (select _source_file, {ROW}, unnest(__issues) as i from _flagged "
                "where _rule is null)".replace("{ROW}", ROW)
            )
        quarantined += _count(con.execute(
            f"insert into quarantine.{source.name} select f._source_file, m.{ROW}, f._export_date, {loaded_at_sql}, "
            f"f._file_sha256, {sql_str(load_id)}, 'malformed_record', m._detail, m._record "
            f"from _malformed m join _batch_files f using ({FILE_ID})"
        ))
        _keep_books(con, files, inserted, quarantined, flagged=bool(select))
        register_files(con, source, register, load_id, loaded_at)
        record_load(con, report, run_id, loaded_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop view if exists _rows; drop table if exists _flagged; drop table if exists _batch_files; "
                    "drop table if exists _suppressed")


def record_load(con: duckdb.DuckDBPyConnection, report: SourceReport, run_id: str, loaded_at: datetime) -> None:
    """The load's row in ops.loads: its files and rows, as the report totals them."""
    con.execute(
        "insert into ops.loads (load_id, source, run_id, started_at, finished_at, files_seen, files_loaded, "
        "files_skipped, rows_read, rows_loaded, rows_quarantined, rows_suppressed) "
        "values (?, ?, ?, ?, now() at time zone 'UTC', ?, ?, ?, ?, ?, ?, ?)",
        [report.load_id, report.source, run_id, loaded_at, len(report.files), report.files_loaded,
         report.files_skipped, report.rows_read, report.rows_loaded, report.rows_quarantined, report.rows_suppressed],
    )


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def _add_new_columns(con: duckdb.DuckDBPyConnection, source: Source, files: list[NewFile], load_id: str,
                     loaded_at: datetime) -> None:
    """Extra export columns are kept: added to raw.<source>, noted in ops.schema_changes by the first file."""
    existing = {r[0] for r in con.execute(f"select column_name from (describe raw.{source.name})").fetchall()}
    for f in files:
        for col in f.columns:
            if col not in existing:
                con.execute(f"alter table raw.{source.name} add column {quote(col)} varchar")
                con.execute("insert into ops.schema_changes values (?, ?, ?, 'added_column', ?, ?)",
                            [source.name, f.report.path, col, load_id, loaded_at])
                f.report.new_columns.append(col)
                existing.add(col)


def _keep_books(con: duckdb.DuckDBPyConnection, files: list[NewFile], inserted: int, quarantined: int,
                flagged: bool) -> None:
    """Per file: rows read (as the reader counted them), quarantined by rule or as malformed, suppressed (an
    identifier on the suppression list), loaded (the rest), and the reasons; the totals must match what was written
    to raw and quarantine."""
    reasons: dict[int, Counter[str]] = {f.id: Counter() for f in files}
    suppressed = dict(con.execute(f"select {FILE_ID}, count(*) from _suppressed group by 1").fetchall())
    if flagged:
        for file_id, rule, n in con.execute(
            f"select {FILE_ID}, _rule, count(*) from _flagged where _rule is not null group by all order by 2"
        ).fetchall():
            reasons[file_id][rule] += n
    for file_id, n in con.execute(f"select {FILE_ID}, count(*) from _malformed group by 1").fetchall():
        reasons[file_id]["malformed_record"] += n
    for f in files:
        r = f.report
        r.reasons = dict(reasons[f.id])
        r.rows_quarantined = sum(r.reasons.values())
        r.rows_read = f.parsed + r.reasons.get("malformed_record", 0)
        r.rows_suppressed = suppressed.get(f.id, 0)
        r.rows_loaded = r.rows_read - r.rows_quarantined - r.rows_suppressed
    loaded = sum(f.report.rows_loaded for f in files)
    rejected = sum(f.report.rows_quarantined for f in files)
    if (loaded, rejected) != (inserted, quarantined):  # the books must balance with what was written
        raise IngestError(f"reconciliation failed: the books say {loaded} rows loaded and {rejected} quarantined, "
                          f"{inserted} and {quarantined} were written")


def register_files(
    con: duckdb.DuckDBPyConnection, source: Source, entries: list[NewFile], load_id: str, loaded_at: datetime,
) -> None:
    """One registry row per file of the batch that is new to the registry (loaded, empty, or a new duplicate)."""
    if not entries:
        return
    reports = [f.report for f in entries]
    con.execute(
        "insert into ops.loaded_files (file_sha256, source, file_path, export_date, size_bytes, rows_read, "
        "rows_loaded, rows_quarantined, status, load_id, loaded_at, detail, rows_suppressed) "
        "select unnest(?::varchar[]), ?, unnest(?::varchar[]), unnest(?::date[]), "
        "unnest(?::bigint[]), unnest(?::bigint[]), unnest(?::bigint[]), unnest(?::bigint[]), unnest(?::varchar[]), "
        "?, ?, unnest(?::varchar[]), unnest(?::bigint[])",
        [
            [r.sha256 for r in reports], source.name, [r.path for r in reports], [r.export_date for r in reports],
            [f.size for f in entries], [r.rows_read for r in reports], [r.rows_loaded for r in reports],
            [r.rows_quarantined for r in reports], [r.status for r in reports], load_id, loaded_at,
            [f.detail if f.detail is not None else (str(f.report.reasons) if f.report.reasons else None)
             for f in entries],
            [r.rows_suppressed for r in reports],
        ],
    )
