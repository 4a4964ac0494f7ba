"""Ingestion on hand-made files: every row is loaded or quarantined with a reason, and files load once."""

import csv
import gzip
import json
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.lib.ingest import IngestError, discover_files, load_source
from orchestration.lib.warehouse import connect
from rules.contract import SOURCES

LOADED_AT = datetime(2026, 9, 2, 3, 0)
ORDER_COLS = SOURCES["orders"].columns


def order_row(order_id="o1", updated="2026-09-01T10:00:00Z", amount="10.50", **overrides) -> dict:
    row = dict.fromkeys(ORDER_COLS, "")
    row.update(order_id=order_id, order_updated_at=updated, placed_at=updated, user_id="u1", email="a@b.com",
               phone="4155550134", first_name="Ann", last_name="Lee", street="1 Main St", city="Springfield",
               postcode="12345", country="US", status="placed", total_amount=amount, currency="USD",
               sales_channel="web")
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict], columns=ORDER_COLS, extra_lines: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def con(tmp_path):
    c = connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def load(con, landing, source="orders", load_id="L1"):
    return load_source(con, source, landing, load_id, LOADED_AT)


def balance(con, source="orders"):
    """Books of the whole warehouse: rows read per registry = raw rows + quarantined rows."""
    read = con.execute("select coalesce(sum(rows_read), 0) from ops.loaded_files where source = ?", [source]).fetchone()[0]
    raw = con.execute(f"select count(*) from raw.{source}").fetchone()[0]
    quarantined = con.execute(f"select count(*) from quarantine.{source}").fetchone()[0]
    return read, raw, quarantined


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_load(con, tmp_path):
    landing = tmp_path / "landing"
    write_csv(
        landing / "orders/2026-09-02/orders.csv",
        [
            order_row("o1"),
            order_row("o2", updated="not-a-date"),
            order_row(""),
            order_row("o3", amount="-5.00"),
            order_row("o4", amount="ten"),
            order_row("o5", currency=""),
            order_row("o6", updated="2031-01-01T00:00:00Z"),
            order_row("o7", placed_at="garbage", status="teleported"),
        ],
        extra_lines=["o8,2026-09-01T10:00:00Z,too,few,columns"],
    )
    report = load(con, landing)
    (f,) = report.files
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (9, 2, 7)
    assert f.reasons == {
        "unparseable_timestamp": 1, "missing_key": 1, "negative_amount": 1, "unparseable_amount": 1,
        "missing_currency": 1, "timestamp_in_future": 1, "malformed_record": 1,
    }
    assert con.execute("select order_id, _row_number from raw.orders order by 2").fetchall() == [("o1", 1), ("o7", 8)]
    rows = dict(con.execute("select _row_number, _rule from quarantine.orders").fetchall())
    assert rows == {2: "unparseable_timestamp", 3: "missing_key", 4: "negative_amount", 5: "unparseable_amount",
                    6: "missing_currency", 7: "timestamp_in_future", 9: "malformed_record"}
    detail = con.execute("select _detail from quarantine.orders where _row_number = 2").fetchone()[0]
    assert "not-a-date" in detail
    # the bad optional field is kept (nulled downstream) and recorded, never a reason to lose the row
    issues = con.execute("select _row_number, column_name, value, rule from ops.field_issues order by 2").fetchall()
    assert issues == [(8, "placed_at", "garbage", "unparseable_timestamp"), (8, "status", "teleported", "unknown_value")]
    read, raw, quarantined = balance(con)
    assert read == raw + quarantined == 9


def test_rerun_and_redelivered_file_add_nothing(con, tmp_path):
    landing = tmp_path / "landing"
    first = write_csv(landing / "orders/2026-09-02/orders.csv", [order_row("o1"), order_row("o2")])
    load(con, landing, load_id="L1")
    again = load(con, landing, load_id="L2")
    assert [f.status for f in again.files] == ["duplicate"]
    # the same bytes delivered again under another name, in a later folder
    copy = landing / "orders/2026-09-03/orders_resent.csv"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(first.read_bytes())
    third = load(con, landing, load_id="L3")
    assert sorted(f.status for f in third.files) == ["duplicate", "duplicate"]
    load(con, landing, load_id="L4")
    assert con.execute("select count(*) from raw.orders").fetchone()[0] == 2
    statuses = con.execute("select file_path, status from ops.loaded_files order by 1").fetchall()
    assert statuses == [("orders/2026-09-02/orders.csv", "loaded"), ("orders/2026-09-03/orders_resent.csv", "duplicate")]


def test_missing_required_column_fails_naming_file_and_column(con, tmp_path):
    landing = tmp_path / "landing"
    cols = tuple(c if c != "currency" else "currency_code" for c in ORDER_COLS)
    path = write_csv(landing / "orders/2026-09-02/orders.csv", [order_row("o1")], columns=cols)
    with pytest.raises(IngestError) as err:
        load(con, landing)
    message = str(err.value)
    assert str(path) in message and "currency" in message and "currency_code" in message
    assert con.execute("select count(*) from raw.orders").fetchone()[0] == 0
    assert con.execute("select count(*) from ops.loaded_files").fetchone()[0] == 0


def test_extra_column_is_kept_and_reported(con, tmp_path):
    landing = tmp_path / "landing"
    cols = (*ORDER_COLS, "gift_note")
    row = order_row("o1") | {"gift_note": "happy birthday"}
    write_csv(landing / "orders/2026-09-02/orders.csv", [row], columns=cols)
    report = load(con, landing)
    assert report.files[0].new_columns == ["gift_note"]
    assert con.execute("select gift_note from raw.orders").fetchone()[0] == "happy birthday"
    assert con.execute("select column_name, change from ops.schema_changes").fetchall() == [("gift_note", "added_column")]


def test_an_optional_column_may_be_omitted_or_present(con, tmp_path):
    """crm_contacts.account_id is optional: a file without it loads (the column is empty in raw, not a schema
    change), a file with it loads its values; neither is an error."""
    landing = tmp_path / "landing"
    required = SOURCES["crm_contacts"].columns
    assert SOURCES["crm_contacts"].optional == ("account_id",)
    contact = {"contact_id": "C1", "updated_at": "2026-09-01T10:00:00Z", "email": "a@b.com"}
    write_csv(landing / "crm_contacts/2026-09-02/crm.csv", [contact], columns=required)
    write_csv(landing / "crm_contacts/2026-09-03/crm.csv", [contact | {"contact_id": "C2", "account_id": "U7"}],
              columns=(*required, "account_id"))
    report = load(con, landing, source="crm_contacts")
    assert [f.rows_loaded for f in report.files] == [1, 1]
    assert [f.new_columns for f in report.files] == [[], []]
    assert con.execute("select contact_id, account_id from raw.crm_contacts order by 1").fetchall() == [
        ("C1", None), ("C2", "U7")]
    assert con.execute("select count(*) from ops.schema_changes").fetchone()[0] == 0


def test_empty_and_header_only_files_load_zero_rows(con, tmp_path):
    landing = tmp_path / "landing"
    (landing / "orders/2026-09-02").mkdir(parents=True)
    (landing / "orders/2026-09-02/empty.csv").write_bytes(b"")
    write_csv(landing / "orders/2026-09-02/header_only.csv", [])
    report = load(con, landing)
    assert [(f.status, f.rows_read) for f in report.files] == [("empty", 0), ("loaded", 0)]


def test_jsonl_gz_and_parquet_are_read_natively(con, tmp_path):
    landing = tmp_path / "landing"
    cols = SOURCES["app_events"].columns
    good = {c: "x" for c in cols} | {"event_id": "e1", "occurred_at": "2026-09-01T10:00:00+02:00",
                                     "event_type": "app_open", "os": "ios"}
    folder = landing / "app_events/2026-09-02"
    folder.mkdir(parents=True)
    lines = [json.dumps(good), "{not json", "", json.dumps(good | {"event_id": "e2", "occurred_at": "soon"})]
    with gzip.open(folder / "events.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    report = load(con, landing, source="app_events")
    assert report.files[0].reasons == {"malformed_record": 1, "unparseable_timestamp": 1}
    assert con.execute("select _row_number from quarantine.app_events order by 1").fetchall() == [(2,), (4,)]
    assert con.execute("select event_id, _row_number from raw.app_events").fetchall() == [("e1", 1)]

    pos_cols = SOURCES["pos_transactions"].columns
    table = pa.table({c: [f"{c}-{i}" for i in range(3)] for c in pos_cols})
    table = table.set_column(pos_cols.index("occurred_at"), "occurred_at", pa.array(["2026-09-01T10:00:00Z"] * 3))
    table = table.set_column(pos_cols.index("total_amount"), "total_amount", pa.array(["1.00", "-2.00", "3.00"]))
    (landing / "pos_transactions/2026-09-02").mkdir(parents=True)
    pq.write_table(table, landing / "pos_transactions/2026-09-02/tills.parquet")
    report = load(con, landing, source="pos_transactions")
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert con.execute("select _row_number from quarantine.pos_transactions").fetchall() == [(2,)]


def test_truncated_gzip_fails_and_writes_nothing(con, tmp_path):
    landing = tmp_path / "landing"
    path = landing / "orders/2026-09-02/orders.csv.gz"
    path.parent.mkdir(parents=True)
    body = "\n".join([",".join(ORDER_COLS)] + [",".join(order_row(f"o{i}").values()) for i in range(2000)])
    data = gzip.compress(body.encode())
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match="orders.csv.gz"):
        load(con, landing)
    assert balance(con) == (0, 0, 0)


def test_invalid_utf8_row_is_quarantined(con, tmp_path):
    landing = tmp_path / "landing"
    path = write_csv(landing / "orders/2026-09-02/orders.csv", [order_row("o1"), order_row("o2")])
    raw = path.read_bytes().replace(b"Ann", b"\xff\xfe", 1)
    path.write_bytes(raw)
    report = load(con, landing)
    assert report.files[0].reasons == {"malformed_record": 1}
    read, loaded, quarantined = balance(con)
    assert (read, loaded, quarantined) == (2, 1, 1)


def test_source_without_exports_tonight_loads_nothing(con, tmp_path):
    report = load(con, tmp_path / "landing")
    assert report.files == [] and report.rows_read == 0


def test_stray_folder_is_an_error_not_silently_skipped(con, tmp_path):
    landing = tmp_path / "landing"
    write_csv(landing / "orders/yesterday/orders.csv", [order_row("o1")])
    with pytest.raises(IngestError, match="YYYY-MM-DD"):
        load(con, landing)


def test_a_failure_midway_leaves_no_partial_file(con, tmp_path, monkeypatch):
    """A crash between writing rows and registering the file rolls both back (one transaction)."""
    landing = tmp_path / "landing"
    write_csv(landing / "orders/2026-09-02/orders.csv", [order_row("o1"), order_row("")])
    import orchestration.lib.ingest as ingest

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(ingest, "register_files", boom)
    with pytest.raises(RuntimeError):
        load(con, landing)
    assert balance(con) == (0, 0, 0)
    monkeypatch.undo()
    load(con, landing, load_id="L2")
    assert balance(con) == (2, 1, 1)


def test_timestamps_without_offset_use_the_source_time_zone(tmp_path):
    from rules.contract import timestamp_sql

    c = duckdb.connect()
    c.execute("set TimeZone = 'UTC'")
    got = c.execute(
        f"select {timestamp_sql('t', 'America/New_York')}, {timestamp_sql('t')} "
        "from (values ('2026-01-15 10:00:00'), ('2026-01-15T10:00:00Z'), ('2026-01-15T10:00:00-05:00'), "
        "('2026-01-15'), ('15/01/2026')) v(t)"
    ).fetchall()
    assert [tuple(None if v is None else v.isoformat() for v in row) for row in got] == [
        ("2026-01-15T15:00:00", "2026-01-15T10:00:00"),
        ("2026-01-15T10:00:00", "2026-01-15T10:00:00"),
        ("2026-01-15T15:00:00", "2026-01-15T15:00:00"),
        ("2026-01-15T05:00:00", "2026-01-15T00:00:00"),
        (None, None),
    ]


def test_white_space_only_key_is_missing_and_fractional_count_is_recorded(con, tmp_path):
    landing = tmp_path / "landing"
    cols = SOURCES["pos_transactions"].columns
    base = dict.fromkeys(cols, "") | {"occurred_at": "2026-09-01T10:00:00Z", "total_amount": "3.00", "currency": "USD"}
    write_csv(landing / "pos_transactions/2026-09-02/tills.csv",
              [base | {"transaction_id": "\t \u00a0"}, base | {"transaction_id": "T1", "items_count": "2.5"}], columns=cols)
    report = load(con, landing, source="pos_transactions")
    assert report.files[0].reasons == {"missing_key": 1}
    assert con.execute("select column_name, value from ops.field_issues").fetchall() == [("items_count", "2.5")]


def test_timestamp_floor_is_the_quality_gates_floor(con, tmp_path, monkeypatch):
    """One floor for quarantine and the gates: JOURNEY_QUALITY_TIMESTAMP_FLOOR moves both."""
    from rules.thresholds import TIMESTAMP_FLOOR_ENV

    landing = tmp_path / "landing"
    write_csv(landing / "orders/2026-09-02/orders.csv",
              [order_row("o1", updated="1969-12-31T23:00:00Z"), order_row("o2", updated="2001-06-01T00:00:00Z")])
    monkeypatch.setenv(TIMESTAMP_FLOOR_ENV, "2010-01-01")
    (f,) = load(con, landing).files
    assert (f.rows_loaded, f.reasons) == (0, {"timestamp_before_floor": 2})
    monkeypatch.delenv(TIMESTAMP_FLOOR_ENV)
    write_csv(landing / "orders/2026-09-03/orders.csv", [order_row("o3", updated="1969-12-31T23:00:00Z"),
                                                          order_row("o4", updated="2001-06-01T00:00:00Z")])
    (f,) = [x for x in load(con, landing, load_id="L2").files if x.status == "loaded"]
    assert (str(f.export_date), f.rows_loaded, f.reasons) == ("2026-09-03", 1, {"timestamp_before_floor": 1})


def test_timestamp_floor_setting_is_judged(monkeypatch):
    """A floor that is no date, or older than the gates can compare, is refused with the variable's name."""
    from rules.thresholds import TIMESTAMP_FLOOR_ENV, default_timestamp_floor

    monkeypatch.setenv(TIMESTAMP_FLOOR_ENV, "01/02/2010")
    with pytest.raises(ValueError, match=f"{TIMESTAMP_FLOOR_ENV}='01/02/2010' is not a date"):
        default_timestamp_floor()
    monkeypatch.setenv(TIMESTAMP_FLOOR_ENV, "1600-01-01")
    with pytest.raises(ValueError, match="before 1700-01-01"):
        default_timestamp_floor()
    monkeypatch.setenv(TIMESTAMP_FLOOR_ENV, " 1990-01-01 ")
    assert str(default_timestamp_floor()) == "1990-01-01"


# ------------------------------------------------------------------------------ batches: many files in one read
def order_line(row: dict) -> str:
    return ",".join(row[c] for c in ORDER_COLS)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize(
    ("bad_line", "ordinal"),
    [("only,three,columns", 344), ("only,three,columns", 100), (order_line(order_row("o-long")) + ",surplus", 100)],
    ids=["short_last", "short_middle", "long_middle"],
)
def test_a_line_with_the_wrong_number_of_fields_is_quarantined_and_the_rest_loads(con, tmp_path, newline, bad_line,
                                                                                    ordinal):
    """An export cut short (or patched by hand) has a line with too few or too many fields, ended by a bare LF
    even in a CRLF file: that line is quarantined with its text and ordinal, the file's other 343 rows load,
    and so do the other files of the batch."""
    landing = tmp_path / "landing"
    lines = [",".join(ORDER_COLS)] + [order_line(order_row(f"o{i}")) for i in range(1, 344)]
    body = newline.join(lines[:ordinal]) + newline + bad_line + "\n"
    if ordinal <= 343:
        body += newline.join(lines[ordinal:]) + newline
    path = landing / "orders/2026-09-02/orders.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(body.encode())
    for day in (1, 3):
        write_csv(landing / f"orders/2026-09-0{day}/other.csv", [order_row(f"x{day}")])
    report = load(con, landing)
    books = [(f.path.split("/", 1)[1], f.status, f.rows_read, f.rows_loaded, f.rows_quarantined, f.reasons)
             for f in report.files]
    assert books == [("2026-09-01/other.csv", "loaded", 1, 1, 0, {}),
                     ("2026-09-02/orders.csv", "loaded", 344, 343, 1, {"malformed_record": 1}),
                     ("2026-09-03/other.csv", "loaded", 1, 1, 0, {})]
    assert con.execute("select _source_file, _row_number, _rule, _record from quarantine.orders").fetchall() == [
        ("orders/2026-09-02/orders.csv", ordinal, "malformed_record", bad_line)]
    keys = con.execute("select _row_number, order_id from raw.orders where _source_file = 'orders/2026-09-02/orders.csv' "
                       "order by 1").fetchall()
    assert [n for n, _ in keys] == [n for n in range(1, 345) if n != ordinal]
    # every good row keeps its own ordinal: o<k> is record k (k + 1 once past the bad line)
    assert all(int(key[1:]) == (n if n < ordinal else n - 1) for n, key in keys)
    assert balance(con) == (346, 345, 1)


def test_a_quote_never_closed_fails_naming_file_and_line_but_a_stray_quote_is_one_bad_record(con, tmp_path):
    landing = tmp_path / "landing"
    good = [order_row(f"o{i}") for i in range(5)]
    stray = order_line(order_row("o-stray")).replace("Springfield", '"Spring"field')
    write_csv(landing / "orders/2026-09-02/a.csv", good, extra_lines=[stray, order_line(order_row("o-after"))])
    (f,) = load(con, landing).files
    assert (f.rows_read, f.rows_loaded, f.reasons) == (7, 6, {"malformed_record": 1})
    assert con.execute("select _row_number, _record from quarantine.orders").fetchall() == [(6, stray)]

    unterminated = order_line(order_row("o-open")).replace("Springfield", '"Springfield')
    bad = write_csv(landing / "orders/2026-09-03/b.csv", good, extra_lines=[unterminated, order_line(order_row("o9"))])
    write_csv(landing / "orders/2026-09-03/c.csv", [order_row("o-c")])
    with pytest.raises(IngestError) as err:
        load(con, landing, load_id="L2")
    assert f"{bad}: line 7" in str(err.value) and "unterminated quote" in str(err.value)
    assert balance(con) == (7, 6, 1)  # nothing of the failed batch (b.csv nor c.csv) was written


def test_many_files_of_a_source_in_one_load_keep_their_books_per_file(con, tmp_path):
    """A generated landing folder (every source, every format, with the generator's bad rows and re-delivered
    copies): per file, rows read equals an independent count, loaded + quarantined = read, and every raw or
    quarantined row sits at the ordinal where Python's csv/json readers find its key."""
    from orchestration.cli import main
    from tests.test_end_to_end import count_records

    assert main(["generate", "--out", str(tmp_path / "gen"), "--people", "400", "--days", "14", "--seed", "5"]) == 0
    landing = tmp_path / "gen" / "landing"
    for name, source in SOURCES.items():
        report = load(con, landing, source=name, load_id=f"L-{name}")
        files = discover_files(landing, name)
        assert len(report.files) == len(files) >= (14 if name in ("web_events", "orders", "crm_contacts") else 1)
        registry = {r[0]: r[1:] for r in con.execute(
            "select file_path, status, rows_read, rows_loaded, rows_quarantined from ops.loaded_files where source = ?",
            [name]).fetchall()}
        for (_, path), f in zip(files, report.files, strict=True):
            rel = path.relative_to(landing).as_posix()
            assert f.path == rel and registry[rel][0] == f.status
            if f.status == "duplicate":
                continue
            assert registry[rel][1:] == (f.rows_read, f.rows_loaded, f.rows_quarantined)
            assert f.rows_read == count_records(path) == f.rows_loaded + f.rows_quarantined, rel
            written = con.execute(
                f"select (select count(*) from raw.{name} where _source_file = $1), "
                f"(select count(*) from quarantine.{name} where _source_file = $1)", [rel]).fetchone()
            assert written == (f.rows_loaded, f.rows_quarantined), rel
            expected = keys_by_ordinal(path, source.key)
            got = dict(con.execute(f"select _row_number, {source.key} from raw.{name} where _source_file = ?",
                                   [rel]).fetchall())
            assert got == {n: k for n, k in expected.items() if n in got}, rel
            quarantined = {r[0] for r in con.execute(
                f"select _row_number from quarantine.{name} where _source_file = ?", [rel]).fetchall()}
            assert set(got) | quarantined == set(expected) and not set(got) & quarantined, rel


def keys_by_ordinal(path: Path, key: str) -> dict[int, str | None]:
    """ordinal -> key of every record of an export file, read with Python's own csv / json / pyarrow readers."""
    name = path.name
    if name.endswith(".parquet"):
        return {i: str(v) if v is not None else None
                for i, v in enumerate(pq.read_table(path).column(key).to_pylist(), start=1)}
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        if ".jsonl" in name:
            records = {n: json.loads(line) for n, line in enumerate(handle, start=1) if line.strip()}
            return {n: (r.get(key) if isinstance(r, dict) else None) for n, r in records.items()}
        reader = csv.DictReader(handle)
        return {n: (r.get(key) or None) for n, r in enumerate(reader, start=1)}


def test_two_identical_files_in_one_batch_load_once(con, tmp_path):
    landing = tmp_path / "landing"
    first = write_csv(landing / "orders/2026-09-02/orders.csv", [order_row("o1"), order_row("o2")])
    (landing / "orders/2026-09-02/orders_copy.csv").write_bytes(first.read_bytes())
    (landing / "orders/2026-09-02/x_empty.csv").write_bytes(b"")
    (landing / "orders/2026-09-02/y_empty.csv").write_bytes(b"")
    report = load(con, landing)
    assert [(f.path.rsplit("/", 1)[1], f.status, f.rows_read) for f in report.files] == [
        ("orders.csv", "loaded", 2), ("orders_copy.csv", "duplicate", 0), ("x_empty.csv", "empty", 0),
        ("y_empty.csv", "duplicate", 0)]
    assert con.execute("select count(*) from raw.orders").fetchone()[0] == 2
    registry = con.execute("select file_path, status, detail from ops.loaded_files order by 1").fetchall()
    assert registry == [
        ("orders/2026-09-02/orders.csv", "loaded", None),
        ("orders/2026-09-02/orders_copy.csv", "duplicate", "same content as orders/2026-09-02/orders.csv"),
        ("orders/2026-09-02/x_empty.csv", "empty", "empty file"),
        ("orders/2026-09-02/y_empty.csv", "duplicate", "same content as orders/2026-09-02/x_empty.csv"),
    ]
    assert [f.status for f in load(con, landing, load_id="L2").files] == ["duplicate"] * 4
    assert con.execute("select count(*) from ops.loaded_files").fetchone()[0] == 4  # noted once, not again


def test_csv_gzip_jsonl_and_parquet_of_one_source_in_one_night(con, tmp_path):
    """One batch of five formats and four layouts (extra column, other column order, upper-case header with a
    BOM; CRLF and LF line ends): each row lands in its columns with its file's lineage, and each file keeps its
    own books."""
    landing = tmp_path / "landing"
    night = landing / "orders/2026-09-02"
    crlf = write_csv(night / "a.csv", [order_row("a1"), order_row("a2", amount="-1")])
    crlf.write_bytes(crlf.read_bytes().replace(b"\n", b"\r\n"))  # CRLF here, LF in the other files
    reordered = tuple(reversed(ORDER_COLS))
    path = write_csv(night / "b.csv", [order_row("b1"), order_row("b2", updated="soon")], columns=reordered)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"order_id", b"ORDER_ID", 1))
    body = "\n".join([",".join([*ORDER_COLS, "gift_note"]), order_line(order_row("c1")) + ",for you",
                      "too,few", order_line(order_row("c2")) + ","]) + "\n"
    (night / "c.csv.gz").write_bytes(gzip.compress(body.encode()))
    (night / "d.jsonl").write_text("\n".join([json.dumps(order_row("d1")), "[1, 2]",
                                               json.dumps(order_row("d2", currency=""))]) + "\n")
    pq.write_table(pa.table({c: [order_row(f"e{i}")[c] for i in (1, 2, 3)] for c in ORDER_COLS}), night / "e.parquet")
    report = load(con, landing)
    books = {f.path.rsplit("/", 1)[1]: (f.rows_read, f.rows_loaded, f.rows_quarantined, f.reasons) for f in report.files}
    assert books == {
        "a.csv": (2, 1, 1, {"negative_amount": 1}),
        "b.csv": (2, 1, 1, {"unparseable_timestamp": 1}),
        "c.csv.gz": (3, 2, 1, {"malformed_record": 1}),
        "d.jsonl": (3, 1, 2, {"missing_currency": 1, "malformed_record": 1}),
        "e.parquet": (3, 3, 0, {}),
    }
    raw = con.execute("select order_id, _source_file, _row_number, total_amount, city, gift_note from raw.orders "
                      "order by 1").fetchall()
    assert raw == [
        ("a1", "orders/2026-09-02/a.csv", 1, "10.50", "Springfield", None),
        ("b1", "orders/2026-09-02/b.csv", 1, "10.50", "Springfield", None),
        ("c1", "orders/2026-09-02/c.csv.gz", 1, "10.50", "Springfield", "for you"),
        ("c2", "orders/2026-09-02/c.csv.gz", 3, "10.50", "Springfield", None),
        ("d1", "orders/2026-09-02/d.jsonl", 1, "10.50", "Springfield", None),
        ("e1", "orders/2026-09-02/e.parquet", 1, "10.50", "Springfield", None),
        ("e2", "orders/2026-09-02/e.parquet", 2, "10.50", "Springfield", None),
        ("e3", "orders/2026-09-02/e.parquet", 3, "10.50", "Springfield", None),
    ]
    assert con.execute("select distinct sales_channel from raw.orders").fetchall() == [("web",)]  # no stray CR
    assert con.execute("select file_path, column_name from ops.schema_changes").fetchall() == [
        ("orders/2026-09-02/c.csv.gz", "gift_note")]
    quarantined = con.execute("select _source_file, _row_number, _rule, _record from quarantine.orders order by 1, 2").fetchall()
    assert [(q[0].rsplit("/", 1)[1], q[1], q[2]) for q in quarantined] == [
        ("a.csv", 2, "negative_amount"), ("b.csv", 2, "unparseable_timestamp"), ("c.csv.gz", 2, "malformed_record"),
        ("d.jsonl", 2, "malformed_record"), ("d.jsonl", 3, "missing_currency")]
    records = {q[0].rsplit("/", 1)[1] + f":{q[1]}": q[3] for q in quarantined}
    assert records["c.csv.gz:2"] == "too,few" and records["d.jsonl:2"] == "[1, 2]"
    assert list(json.loads(records["a.csv:2"])) == list(ORDER_COLS)  # the file's own columns, in its order
    assert list(json.loads(records["b.csv:2"])) == list(reordered)
    assert balance(con) == (13, 8, 5)


@pytest.mark.parametrize("fault", ["truncated_gzip", "repeated_column", "missing_column", "json_not_utf8",
                                   "parquet_torn"])
def test_one_unreadable_file_fails_the_batch_naming_it_and_writes_nothing(con, tmp_path, fault):
    landing = tmp_path / "landing"
    for day in range(1, 6):
        write_csv(landing / f"orders/2026-09-0{day}/orders.csv", [order_row(f"o{day}-{i}") for i in range(3)])
        (landing / f"orders/2026-09-0{day}/orders.jsonl").write_text(json.dumps(order_row(f"j{day}")) + "\n")
        pq.write_table(pa.table({c: [order_row(f"p{day}")[c]] for c in ORDER_COLS}),
                       landing / f"orders/2026-09-0{day}/orders.parquet")
    columns = list(ORDER_COLS)
    if fault == "repeated_column":
        columns[3] = "EMAIL"
    if fault == "missing_column":
        columns = columns[:-1]
    body = "\n".join([",".join(columns)] + [order_line(order_row(f"x{i}")) for i in range(3000)]) + "\n"
    data = gzip.compress(body.encode())
    bad = landing / "orders/2026-09-03/late.csv.gz"
    bad.write_bytes(data[: len(data) // 2] if fault == "truncated_gzip" else data)
    if fault == "json_not_utf8":
        bad.unlink()
        bad = landing / "orders/2026-09-03/late.jsonl"
        bad.write_bytes(json.dumps(order_row("j-bad")).encode().replace(b"Ann", b"\xff\xfe") + b"\n")
    if fault == "parquet_torn":
        bad.unlink()
        bad = landing / "orders/2026-09-03/late.parquet"
        bad.write_bytes((landing / "orders/2026-09-01/orders.parquet").read_bytes()[:-40])
    with pytest.raises(IngestError) as err:
        load(con, landing)
    message = str(err.value)
    assert message.startswith(f"{bad}: ")
    expected = {"truncated_gzip": "cannot be read as CSV", "repeated_column": "email appear(s)? more than once",
                "missing_column": "required column\\(s\\) sales_channel missing",
                "json_not_utf8": "cannot be read as JSON lines", "parquet_torn": "cannot be read as Parquet"}[fault]
    assert re.search(expected, message), message
    assert balance(con) == (0, 0, 0)
    assert con.execute("select count(*) from ops.loaded_files").fetchone()[0] == 0
    bad.unlink()  # the export is taken back: the next run loads the rest
    assert load(con, landing, load_id="L2").rows_loaded == 25
