"""Derived columns a suite validates, computed with the same SQL rules ingestion and dbt use.

Raw columns are text as delivered. Some rules need a typed or normalised view of them (is this timestamp in
the future? is this enum value known once trimmed and lower-cased?), and GX's pandas expectations cannot parse
text themselves. A suite therefore lists the columns it derives in `suite.meta["derived"]`, and the runner adds
them to the batch before validating. Derivation runs in an in-memory DuckDB over the DataFrame so a timestamp
is parsed exactly as `orchestration.lib.contract.timestamp_sql` (ingestion and the dbt macro) parses it.

Each derivation is a dict: {"name": <new column>, "kind": <kind>, "column": <input column>, ...}.
Kinds: timestamp (naive UTC; text without an offset is read in "tz"; "plus_seconds" shifts it), lower / upper
(trimmed), number (double), key_repeat (the key on every row but the first, in "order", of the rows sharing the
"key" columns, else null), key_conflict (the key when rows sharing "key" columns differ in their "content"
columns, else null).
Blank strings become null first, as staging does: an empty CSV field and a missing one mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pandas as pd

from orchestration.lib.contract import timestamp_sql
from orchestration.lib.warehouse import quote

Derivation = Mapping[str, Any]
_TEXT_TYPES = ("VARCHAR",)


def derive(name: str, kind: str, column: str | None = None, **options: Any) -> dict[str, Any]:
    """One derivation spec (JSON-serialisable, so it can live in the suite's meta)."""
    spec: dict[str, Any] = {"name": name, "kind": kind}
    if column is not None:
        spec["column"] = column
    spec.update(options)
    return spec


def _inputs(spec: Derivation) -> list[str]:
    if spec["kind"] in ("key_conflict", "key_repeat"):
        return list(spec["key"])  # content columns that are missing are left out of the comparison
    return [spec["column"]]


def _key_text(key: Sequence[str]) -> str:
    if len(key) == 1:
        return f"cast({quote(key[0])} as varchar)"
    return "concat_ws(' @ ', " + ", ".join(f"cast({quote(c)} as varchar)" for c in key) + ")"


def _expression(spec: Derivation, types: Mapping[str, str]) -> str:
    kind = spec["kind"]
    if kind == "key_repeat":
        key = list(spec["key"])
        partition = ", ".join(quote(c) for c in key)
        key_present = " and ".join(f"{quote(c)} is not null" for c in key)
        order = [quote(c) for c in spec.get("order", ()) if c in types]
        order_by = f" order by {', '.join(order)}" if order else ""
        return (f"case when {key_present} and row_number() over (partition by {partition}{order_by}) > 1 "
                f"then {_key_text(key)} end")
    if kind == "key_conflict":
        key = list(spec["key"])
        content = [c for c in spec["content"] if c in types]
        # A marker per column keeps (NULL, 'a') and ('a', NULL) apart.
        row_hash = "md5(concat_ws('|', " + ", ".join(
            f"coalesce(cast({quote(c)} as varchar), '\\N')" for c in content) + "))"
        partition = ", ".join(quote(c) for c in key)
        key_present = " and ".join(f"{quote(c)} is not null" for c in key)
        return (f"case when {key_present} and count(distinct {row_hash}) over (partition by {partition}) > 1 "
                f"then {_key_text(key)} end")
    column = spec["column"]
    col = quote(column)
    ctype = types[column].upper()
    is_text = ctype in _TEXT_TYPES
    if kind == "timestamp":
        if is_text:
            parsed = timestamp_sql(column, spec.get("tz", "UTC"))
        elif "WITH TIME ZONE" in ctype:
            parsed = f"({col} at time zone 'UTC')"
        else:
            parsed = f"cast({col} as timestamp)"
        shift = float(spec.get("plus_seconds") or 0)
        return f"(({parsed}) + to_microseconds({round(shift * 1_000_000)}))" if shift else parsed
    if kind in ("lower", "upper"):
        return f"{kind}(trim(cast({col} as varchar)))"
    if kind == "number":
        return f"try_cast(trim({col}) as double)" if is_text else f"try_cast({col} as double)"
    raise ValueError(f"unknown derivation kind {kind!r} in {dict(spec)}")


def prepare_sql(relation: str, types: Mapping[str, str], derived: Sequence[Derivation] = ()) -> str:
    """A query over `relation` (a table name or a parenthesised select) with blank text as null and the derived
    columns whose inputs exist (missing ones fail elsewhere) added; `types` are its columns' DuckDB types.

    The raw gates run it in the warehouse itself, so a batch reaches pandas once, already prepared."""
    blanks = [f"case when trim({quote(c)}) = '' then null else {quote(c)} end as {quote(c)}"
              for c, t in types.items() if t.upper() in _TEXT_TYPES]
    cleaned = f"select * replace ({', '.join(blanks)}) from {relation} as batch" if blanks else \
        f"select * from {relation} as batch"
    usable = [s for s in derived if all(c in types for c in _inputs(s)) and s["name"] not in types]
    extra = "".join(f", {_expression(s, types)} as {quote(s['name'])}" for s in usable)
    return f"select *{extra} from ({cleaned}) as batch"


def prepare(df: pd.DataFrame, derived: Sequence[Derivation] = ()) -> pd.DataFrame:
    """A DataFrame as prepare_sql prepares a relation (in an in-memory DuckDB), timestamps in nanoseconds."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.register("batch", df.reset_index(drop=True))
        types = {row[0]: row[1] for row in con.execute("describe batch").fetchall()}
        return nanosecond_timestamps(con.execute(prepare_sql("batch", types, derived)).df())
    finally:
        con.close()


# The range of pandas' nanosecond timestamps, a little inside it.
_NS_MIN, _NS_MAX = pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01")


def nanosecond_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamp columns as datetime64[ns], the one unit GX compares vectorised.

    DuckDB hands timestamps to pandas in microseconds, and GX's expect_column_values_to_be_between then calls a
    Python function per value (it was most of a raw check's time). Values outside the nanosecond range (a year
    9999 typed into an export) are clamped to its edge first: still in the future, or before any floor (floors
    start at expectations.thresholds.OLDEST_FLOOR), so they break the same rules; NaT stays NaT. A failure's
    sample values then show the edge (2262-01-01, 1678-01-01), not the year typed: the quarantine row of the
    ingest keeps the value as delivered."""
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_datetime64_dtype(dtype) and not pd.api.types.is_datetime64_ns_dtype(dtype):
            frame[column] = frame[column].clip(lower=_NS_MIN, upper=_NS_MAX).astype("datetime64[ns]")
    return frame
