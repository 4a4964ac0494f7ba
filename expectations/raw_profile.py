"""Raw gates aggregated where the data lives: DuckDB counts, per rule, the values it checked and the values that
break it over the rows of one load; Great Expectations judges that one-row profile; only a failed rule reads a
few sample rows. The mart gates work the same way (expectations.mart_integrity).

The rules are the contract's (expectations.raw._common.build_raw_spec), each a pair of SQL predicates over the
*prepared* batch, i.e. the load's rows with blank text as null (as staging reads them) and the derived columns
the rules compare (parsed timestamps, normalised enums, numbers):

- `checked`: the row's value is judged at all (GX's "not missing": null values of a regex, set or range rule are
  not counted, a not-null rule counts every row);
- `violation`: the value breaks the rule.

The profile holds, per rule, `<id>__checked` and `<id>__unexpected`. Two rules are about keys, not rows:
key_unique counts the rows that repeat an earlier row's key (rows of a key - 1, summed over keys), and
key_conflict_free the rows whose key is shared with a row of other content (a group by the key, content compared
by a hash of the content columns: its min and max differ). Both are aggregates over the key, never a window over
the whole load.

GX then validates a profile frame: `expect_column_to_exist` per contract column (a marker column per column the
table has) and, per rule, `expect_column_max_to_be_between(_share__<id>, max_value=1 - mostly)` where the share is
unexpected / checked, counted as 0 while the count is within the rule's small-batch allowance (a rate rule fails
only when more than `small_batch_allowance` values break it; strict rules, mostly 1.0, have none). A rate rule's
share is the lower bound of its one-sided Clopper-Pearson interval at `rate_rule_confidence` (rules/thresholds.py):
a small batch fails only when it is evidently worse than the threshold, a large one when its share is clearly above
it. (Before, the plain share was GX's `mostly` verdict on the rows, and a small source's night stopped on noise.)

A failed rule is then reported as before: "N of M non-null values (p%) unexpected; allowed a% (or up to k)",
with up to SAMPLE_COUNT sample values and rows (lineage, key, the rule's columns and the derived value), read by
one bounded query per failed rule in file and line order.

Where this differs from the row-by-row suites it replaced, on purpose: the samples are the first offending rows
in file and line order (they were the first in whatever order the frame held), far-out timestamps show as typed
(pandas clamped them to 1678 and 2262), a pair rule's sample is ISO text (was nanosecond integers), and content is
compared by DuckDB's hash of the columns (a 64-bit hash: a collision within one key is practically impossible;
the md5 of '|'-joined text took ('a|b', 'c') for ('a', 'b|c')). tests/test_quality_raw.py holds the broken
batches on which both judged alike.

On the Spark engine the same SQL runs on Spark, over the staged files of a load: `validate_raw` takes any
connection-like object, and orchestration/spark_steps.py's StagedReader translates each statement to Spark SQL
(expectations/raw_spark_sql.py). So the SQL here is written for that translation too: the batch's columns are listed
rather than `select * replace` (Spark has none), and the DuckDB functions it uses are the ones the translation
knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from expectations.validation import SAMPLE_COUNT, FailedExpectation, QualityResult, jsonable, validate
from orchestration.lib.warehouse import quote
from rules.contract import LINEAGE_COLUMNS
from rules.privacy import DIRECT_IDENTIFIER_COLUMNS, redacted_sql
from rules.thresholds import share_lower_bound

ROWS = "rows"  # a rule counted by `count(*) filter (where violation)` over the prepared rows
KEY_REPEAT = "key_repeat"  # counted from the key aggregate: rows repeating an earlier row's key
KEY_CONFLICT = "key_conflict"  # counted from the key aggregate: rows of keys with more than one content
# Lineage shown in sample rows (the load id is the same on every row of a batch).
SAMPLE_LINEAGE = tuple(c for c in LINEAGE_COLUMNS if c != "_load_id")
ORDER = ("_source_file", "_row_number")


@dataclass(frozen=True)
class Derived:
    """A column the rules compare, computed from `inputs` over the cleaned batch (`sql` names them quoted)."""

    name: str
    sql: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class RawRule:
    """One rule on the rows of a load. SQL predicates read the prepared batch (columns by their quoted names)."""

    rule: str  # machine name (reports, tests and the run summary know it)
    column: str  # the export column the report names
    expectation: str  # the row-level GX expectation the rule is, as reports name it
    reads: tuple[str, ...]  # export columns that must exist for the rule to be computed
    checked: str  # the value is judged (GX: not missing)
    violation: str  # the value breaks the rule (implies checked)
    value: str  # what a failure lists as its sample value
    value_name: str  # that value's name in the sample rows (the derived column, e.g. occurred_at__utc)
    mostly: float = 1.0
    allowance: int = 0  # unexpected values tolerated whatever the share (rate rules only)
    # rate rules: the share is judged by its lower Clopper-Pearson bound at this confidence (None: the share itself)
    confidence: float | None = None
    counted_by: str = ROWS
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.rule}__{re.sub(r'[^0-9A-Za-z_]+', '_', self.column).strip('_')}"

    @property
    def allowed_share(self) -> float:
        return round(1.0 - self.mostly, 12)


@dataclass(frozen=True)
class RawSpec:
    """The rules of one raw source: its contract columns, key (with the version timestamp for versioned
    sources), the content compared for conflicts, the derived columns and the rules in report order."""

    source: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    content: tuple[str, ...]
    derived: tuple[Derived, ...]
    rules: tuple[RawRule, ...]
    built_at: datetime

    @property
    def suite_name(self) -> str:
        return f"raw.{self.source}"

    def rule_for(self, rule: str, column: str | None) -> RawRule | None:
        return next((r for r in self.rules if r.rule == rule and r.column == column), None)


# --- SQL --------------------------------------------------------------------------------------------------------


def literal(text: str) -> str:
    """A SQL string literal (DuckDB reads backslashes in a plain literal as themselves, as RE2 needs them)."""
    return "'" + text.replace("'", "''") + "'"


def cleaned(column: str) -> str:
    """The column as text, blank (only whitespace) as null: an empty CSV field and a missing one are the same."""
    text = f"cast({quote(column)} as varchar)"
    return f"case when trim({text}) = '' then null else {text} end"


def key_present(key: Sequence[str]) -> str:
    return " and ".join(f"{quote(c)} is not null" for c in key)


def key_text(key: Sequence[str]) -> str:
    """The key as one text value, as failures list it: 'id' or 'id @ version'."""
    if len(key) == 1:
        return quote(key[0])
    return "concat_ws(' @ ', " + ", ".join(quote(c) for c in key) + ")"


def usable(spec: RawSpec, columns: Sequence[str] | Mapping[str, Any]) -> tuple[list[RawRule], list[Derived]]:
    """The rules (and derived columns) whose columns the table has; a missing column fails column_present."""
    present = set(columns)
    rules = [r for r in spec.rules if set(r.reads) <= present]
    derived = [d for d in spec.derived if set(d.inputs) <= present]
    return rules, derived


def prepared_sql(spec: RawSpec, batch_sql: str, columns: Sequence[str]) -> str:
    """The batch with its contract columns cleaned and the usable derived columns added. The batch's columns are
    listed (not `select * replace`, which Spark lacks): `columns` are the relation's, so the two select the same."""
    contract = set(spec.columns)
    listed = ", ".join(f"{cleaned(c)} as {quote(c)}" if c in contract else quote(c) for c in columns)
    clean = f"select {listed or '*'} from {batch_sql} as raw_batch"
    derived = usable(spec, columns)[1]
    extra = "".join(f", {d.sql} as {quote(d.name)}" for d in derived)
    return f"select *{extra} from ({clean}) as clean_batch"


def _content_hash(spec: RawSpec, columns: Sequence[str]) -> str:
    content = [quote(c) for c in spec.content if c in set(columns)]
    return f"hash({', '.join(content)})" if content else "0"


def keys_sql(spec: RawSpec, batch_sql: str, columns: Sequence[str]) -> str:
    """One row per key of the batch (key columns all present): its rows, and the min and max hash of their
    content (they differ when two rows of the key differ in content). Only the key and content are read."""
    present = set(columns)
    reads = [c for c in (*spec.key, *spec.content) if c in present]
    clean = f"select {', '.join(f'{cleaned(c)} as {quote(c)}' for c in reads)} from {batch_sql} as raw_batch"
    group = ", ".join(quote(c) for c in spec.key)
    content = _content_hash(spec, columns)
    return (f"select {group}, count(*) as n, min({content}) as lo, max({content}) as hi from ({clean}) as k "
            f"where {key_present(spec.key)} group by {group}")


def profile_sql(spec: RawSpec, batch_sql: str, columns: Sequence[str]) -> str:
    """One row: the batch's rows and, per usable rule, the values checked and the values that break it."""
    rules = usable(spec, columns)[0]
    aggregates = ["count(*) as _rows"]
    for r in (r for r in rules if r.counted_by == ROWS):
        aggregates.append(f"count(*) filter (where {r.checked}) as {quote(r.id + '__checked')}")
        aggregates.append(f"count(*) filter (where {r.violation}) as {quote(r.id + '__unexpected')}")
    sql = f"select {', '.join(aggregates)} from ({prepared_sql(spec, batch_sql, columns)}) as b"
    key_rules = [r for r in rules if r.counted_by != ROWS]
    if not key_rules:
        return sql
    counts = {KEY_REPEAT: "coalesce(sum(n), 0) - count(*)", KEY_CONFLICT: "coalesce(sum(n) filter (where lo <> hi), 0)"}
    key_aggregates = [f"{counts[r.counted_by]} as {quote(r.id + '__unexpected')}" for r in key_rules]
    return (f"select * from ({sql}) as row_counts cross join "
            f"(select {', '.join(key_aggregates)} from ({keys_sql(spec, batch_sql, columns)}) as keys) as key_counts")


def sample_columns(spec: RawSpec, r: RawRule, columns: Sequence[str]) -> list[str]:
    """Lineage, key, the rule's columns: what a sample row shows (before the rule's derived value)."""
    present = set(columns)
    wanted = [*SAMPLE_LINEAGE, *spec.key, *r.reads]
    return [c for c in dict.fromkeys(wanted) if c in present and c != r.value_name]


def sample_sql(spec: RawSpec, r: RawRule, batch_sql: str, columns: Sequence[str], limit: int = SAMPLE_COUNT) -> str:
    """Up to `limit` rows that break the rule, in file and line order; `_value` is the failure's sample value."""
    # direct identifiers (rules.privacy) are shown redacted: reports and logs hold no personal data
    shown = ", ".join(f"{redacted_sql(quote(c))} as {quote(c)}" if c in DIRECT_IDENTIFIER_COLUMNS else quote(c)
                      for c in sample_columns(spec, r, columns))
    order = [quote(c) for c in ORDER if c in set(columns)]
    order_by = f" order by {', '.join(order)}" if order else ""
    prepared = prepared_sql(spec, batch_sql, columns)
    value = redacted_sql(r.value) if DIRECT_IDENTIFIER_COLUMNS & set(r.reads) else r.value
    select = f"select {shown}, {value} as {quote(r.value_name)}, {value} as _value"
    if r.counted_by == ROWS:
        return f"{select} from ({prepared}) as b where {r.violation}{order_by} limit {int(limit)}"
    group = ", ".join(quote(c) for c in spec.key)
    if r.counted_by == KEY_REPEAT:
        # The first row of a key (in file and line order) is the original; every later one repeats it.
        keys = f"select {group} from ({keys_sql(spec, batch_sql, columns)}) as k where n > 1"
        numbered = (f"select *, row_number() over (partition by {group}{order_by}) as _copy "
                    f"from ({prepared}) as p semi join ({keys}) as repeated using ({group})")
        return f"{select} from ({numbered}) as b where _copy > 1{order_by} limit {int(limit)}"
    keys = f"select {group} from ({keys_sql(spec, batch_sql, columns)}) as k where lo <> hi"
    return f"{select} from ({prepared}) as b semi join ({keys}) as conflicting using ({group}){order_by} limit {int(limit)}"


# --- GX over the profile ----------------------------------------------------------------------------------------


def share_column(r: RawRule) -> str:
    return "_share__" + r.id


def profile_suite(spec: RawSpec) -> gx.ExpectationSuite:
    """The GX suite over the profile frame: every contract column exists, every rule's share within its mostly."""
    exps: list[gxe.Expectation] = [
        gxe.ExpectColumnToExist(column=c, meta={"rule": "column_present", "column": c}) for c in spec.columns]
    for r in spec.rules:
        meta = {"rule": r.rule, "column": r.column, "columns": list(r.reads), "expectation": r.expectation,
                "mostly": r.mostly, **({"allowance": r.allowance} if r.allowance else {}),
                **({"confidence": r.confidence} if r.confidence is not None else {}), **r.meta}
        exps.append(gxe.ExpectColumnMaxToBeBetween(column=share_column(r), max_value=r.allowed_share, meta=meta))
    return gx.ExpectationSuite(
        name=spec.suite_name, expectations=exps,
        meta={"layer": "raw", "source": spec.source, "key": list(spec.key), "lineage": list(SAMPLE_LINEAGE),
              "profile": "one row of checked and unexpected counts per rule, computed in DuckDB (on the Spark "
                         "engine: its SQL translated to Spark SQL) (expectations.raw_profile)",
              "built_at": spec.built_at.isoformat(timespec="seconds")},
    )


def judged_share(r: RawRule, checked: int, unexpected: int) -> float:
    """The share GX bounds by 1 - mostly: 0 while the count is within the allowance (or nothing was checked); for a
    rate rule the lower bound of the share at the rule's confidence, else the share itself."""
    if checked == 0 or unexpected <= r.allowance:
        return 0.0
    if r.confidence is not None:
        return share_lower_bound(unexpected, checked, r.confidence)
    return unexpected / checked


def _counts(spec: RawSpec, r: RawRule, row: Mapping[str, Any]) -> tuple[int, int]:
    checked = row["_rows"] if r.counted_by != ROWS else row[r.id + "__checked"]
    return int(checked or 0), int(row[r.id + "__unexpected"] or 0)


def profile_frame(spec: RawSpec, row: Mapping[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    """The frame GX validates: the counts, each usable rule's judged share, a marker per column present."""
    data: dict[str, Any] = dict(row)
    for r in usable(spec, columns)[0]:
        data[share_column(r)] = judged_share(r, *_counts(spec, r, row))
    for c in spec.columns:
        if c in set(columns):
            data[c] = "present"
    return pd.DataFrame([data])


def _observed(r: RawRule, checked: int, unexpected: int) -> tuple[str, float, float]:
    percent = 100.0 * unexpected / checked if checked else 0.0
    allowed = round(100.0 * (1 - r.mostly), 4)
    slack = f" (or up to {r.allowance})" if r.allowance else ""
    bound = ""
    if r.confidence is not None and checked:
        bound = (f", at least {100.0 * share_lower_bound(unexpected, checked, r.confidence):.2f}% "
                 f"with {r.confidence:.0%} confidence")
    text = (f"{unexpected:,} of {checked:,} non-null values ({percent:.2f}%) unexpected{bound}; "
            f"allowed {allowed:g}%{slack}")
    return text, percent, allowed


def _plain(value: Any) -> Any:
    return jsonable(float(value) if isinstance(value, Decimal) else value)


def explain(spec: RawSpec, result: QualityResult, row: Mapping[str, Any],
            samples: Callable[[RawRule], list[dict[str, Any]]]) -> None:
    """Rewrite each failed rule in the words of the row-level report, with its sample values and rows."""
    for i, failure in enumerate(result.failures):
        r = spec.rule_for(failure.rule, failure.column)
        if r is None or failure.error:
            continue
        checked, unexpected = _counts(spec, r, row)
        observed, percent, allowed = _observed(r, checked, unexpected)
        rows = samples(r)
        result.failures[i] = FailedExpectation(
            r.rule, r.expectation, r.column, observed, unexpected_count=unexpected,
            unexpected_percent=round(percent, 4), allowed_percent=allowed, observed_value=round(percent, 4),
            samples=[s.pop("_value") for s in rows], sample_rows=rows,
        )


def validate_raw(
    connect: Callable[[], duckdb.DuckDBPyConnection], spec: RawSpec, batch_sql: str, columns: Sequence[str],
    params: Mapping[str, Any] | None = None, sample_count: int = SAMPLE_COUNT,
) -> QualityResult:
    """Validate one load: `batch_sql` is a relation holding its rows (a table, or a parenthesised select whose
    parameters are named, `$load_id`, as the SQL repeats the relation), `columns` the relation's columns.
    `connect()` opens the warehouse (read-only is enough); it is called once for the profile and, only when a
    rule fails, once more for the samples; each connection is closed."""
    columns = list(columns)
    sql = profile_sql(spec, batch_sql, columns)
    con = connect()
    try:
        cursor = con.execute(sql, dict(params or {}))
        names = [d[0] for d in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
    finally:
        con.close()
    result = validate(profile_frame(spec, row, columns), profile_suite(spec), sample_count=sample_count)
    result.rows = int(row["_rows"])
    if result.success:
        return result
    con = connect()
    try:
        def samples(r: RawRule) -> list[dict[str, Any]]:
            query = sample_sql(spec, r, batch_sql, columns, sample_count)
            cursor = con.execute(query, dict(params or {}))
            names = [d[0] for d in cursor.description]
            return [{n: _plain(v) for n, v in zip(names, values, strict=True)} for values in cursor.fetchall()]

        explain(spec, result, row, samples)
    finally:
        con.close()
    return result


def validate_raw_frame(frame: pd.DataFrame, spec: RawSpec, sample_count: int = SAMPLE_COUNT) -> QualityResult:
    """Validate rows held in a DataFrame (raw text as delivered, with lineage) as the gate validates a load: in
    an in-memory DuckDB, through the same SQL."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        con.register("frame_batch", frame.reset_index(drop=True))
        con.execute("create table batch as select * from frame_batch")
        columns = [r[0] for r in con.execute("describe batch").fetchall()]
        return validate_raw(con.cursor, spec, "batch", columns, sample_count=sample_count)
    finally:
        con.close()
