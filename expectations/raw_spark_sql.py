"""The raw gates' DuckDB SQL (expectations.raw_profile) as Spark SQL, so that Spark counts the rules where the
staged rows live (orchestration/spark_steps.py `raw_gates`).

sqlglot translates the SQL (`regexp_matches` to `rlike`, `count(*) filter`, quoting, casts, semi joins); what it
cannot know is rewritten on its syntax tree, each to what the DuckDB expression computes:

- **Regular expressions** are RE2 on DuckDB and Java's on Spark. The patterns (expectations.patterns, the
  timestamp test of rules.contract) are written for both, but for three escapes Java reads otherwise: `\\v` (RE2:
  the vertical tab; Java: any vertical whitespace, \\u2028 too) becomes `\\x0B`, `\\s` (RE2: [\\t\\n\\f\\r ];
  Java adds the vertical tab) becomes that class, and a final `$` (RE2: the end of the text; Java: also before a
  final line terminator, \\u0085 or \\u2028 too) becomes `\\z`.
- **Time zones**: DuckDB's `timezone('UTC', timezone(tz, t))` (wall-clock time `t` in zone `tz`, as UTC) is Spark's
  `to_utc_timestamp(t, tz)`, but for a wall-clock time a clock change repeats (02:30 on 2026-10-25 in Berlin): DuckDB
  (ICU) reads the later instant, Spark (java.time) the earlier. `SPARK_WALL_CLOCK_UTC` reads the later one on Spark
  too. `to_microseconds(n)` becomes an interval of n microseconds. The session's time zone must be UTC (spark_session
  sets it), as Spark shows instants in it.
- **Offsets**: DuckDB's cast to `timestamptz` reads an offset after the minutes (`10:00Z`) and offsets of hours
  only or without a colon (`+02`, `+0200`); Spark's cast to `timestamp` reads an offset only after the seconds and
  as `+HH:MM`. The text is brought to that form first (`spark_offset_text`; the texts reaching the cast have the
  shape rules.contract.TIMESTAMP_SHAPE, so the rewrite is total).
- **Content hashes**: DuckDB's `hash(a, b, ...)` is a 64-bit hash in which a null counts; Spark's `hash` is 32-bit
  and skips nulls, so ('x', null) and (null, 'x') would hash alike. It becomes `xxhash64(a, a is null, b, b is null,
  ...)`: 64 bits, and where the nulls are is part of the content.
- **Parameters** (`$load_id`) are inlined as string literals, quoted by sqlglot's Spark writer.

A DuckDB function this module does not know is left as sqlglot writes it: Spark then fails with a clear error
rather than counting something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp

# RE2's \s (Java's \s also takes the vertical tab)
RE2_SPACE = r"[\t\n\f\r ]"


def java_regex(pattern: str) -> str:
    """An RE2 pattern of the gates as a Java pattern that finds the same texts (see the module docstring)."""
    java = re.sub(r"(?<!\\)((?:\\\\)*)\\v", r"\1\\x0B", pattern)
    java = re.sub(r"(?<!\\)((?:\\\\)*)\\s", lambda m: m.group(1) + RE2_SPACE, java)
    if re.search(r"(?<!\\)(?:\\\\)*\$$", java):
        java = java[:-1] + r"\z"
    return java


def _function(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).lower() == name


def _string(node: exp.Expression, what: str) -> str:
    if not (isinstance(node, exp.Literal) and node.is_string):
        raise ValueError(f"{what} must be a string literal for Spark, not {node.sql('duckdb')}")
    return node.this


# The wall-clock time {t} (a Spark `timestamp`) of zone {tz} as UTC, read as DuckDB reads it. to_utc_timestamp takes
# the earlier of two instants an autumn clock change gives one wall-clock time; the offset a day later is the one after
# the change, so {t} read with it is the later instant when that reads back as {t}, and otherwise (no change, or a
# spring gap, read alike) to_utc_timestamp's. dbt's spark__wall_clock_utc writes the same expression.
SPARK_WALL_CLOCK_UTC = (
    "case when from_utc_timestamp(to_utc_timestamp({t} + interval 1 day, {tz}) - interval 1 day, {tz}) = {t}"
    " then to_utc_timestamp({t} + interval 1 day, {tz}) - interval 1 day else to_utc_timestamp({t}, {tz}) end")

# (pattern, replacement) applied in turn to a text of rules.contract.TIMESTAMP_SHAPE with an offset: seconds after
# the minutes, minutes after the hours, a colon between them. The same steps as dbt's spark__parse_timestamp.
SPARK_OFFSET_STEPS = (("^(.{16})([Z+-])", "$1:00$2"), ("([+-][0-9]{2})([0-9]{2})$", "$1:$2"), ("([+-][0-9]{2})$", "$1:00"))


def spark_offset_text(text: exp.Expression) -> exp.Expression:
    """A timestamp text with an offset in the form Spark's cast reads: yyyy-MM-ddTHH:mm:ss[.f](Z|+HH:mm)."""
    for pattern, replacement in SPARK_OFFSET_STEPS:
        text = exp.Anonymous(this="regexp_replace", expressions=[
            text, exp.Literal.string(pattern), exp.Literal.string(replacement)])
    return text


def _rewrite(node: exp.Expression, params: Mapping[str, Any]) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.TIMESTAMPTZ):
        node.set("this", spark_offset_text(node.this))
        return node
    if isinstance(node, exp.RegexpLike):
        node.set("expression", exp.Literal.string(java_regex(_string(node.expression, "a regex"))))
        return node
    if isinstance(node, exp.Placeholder):
        name = str(node.this)
        if name not in params:
            raise ValueError(f"the SQL names ${name}, which the parameters {sorted(params)} lack")
        return exp.Literal.string(str(params[name]))
    if _function(node, "timezone"):
        return _utc(node)
    if _function(node, "to_microseconds"):
        micros = node.expressions[0]
        if not (isinstance(micros, exp.Literal) and micros.is_int):
            raise ValueError(f"to_microseconds needs an integer literal for Spark, not {micros.sql('duckdb')}")
        seconds = f"{int(micros.this) / 1_000_000:.6f}"  # a decimal literal: exact to the microsecond
        return exp.Anonymous(this="make_dt_interval", expressions=[exp.Literal.number(0), exp.Literal.number(0),
                                                                     exp.Literal.number(0), exp.Literal.number(seconds)])
    if _function(node, "hash"):
        with_nulls = [part for c in node.expressions for part in (c, exp.Is(this=c.copy(), expression=exp.Null()))]
        return exp.Anonymous(this="xxhash64", expressions=with_nulls)
    return node


def _utc(node: exp.Anonymous) -> exp.Expression:
    """timezone('UTC', timezone(tz, t)): the wall-clock time t of zone tz as a UTC time (the only form the gates use)."""
    outer_zone, inner = node.expressions
    if _string(outer_zone, "timezone()'s zone").upper() != "UTC" or not _function(inner, "timezone"):
        raise ValueError(f"only timezone('UTC', timezone(tz, t)) translates to Spark, not {node.sql('duckdb')}")
    zone, wall_clock = inner.expressions
    if isinstance(wall_clock, exp.Cast) and wall_clock.to.is_type(exp.DataType.Type.TIMESTAMPNTZ,
                                                                  exp.DataType.Type.TIMESTAMP):
        # Spark's to_utc_timestamp reads a `timestamp` (shown in the session's zone, UTC) as wall-clock time
        wall_clock = wall_clock.copy()
        wall_clock.set("to", exp.DataType.build("timestamp"))
    return sqlglot.parse_one(SPARK_WALL_CLOCK_UTC.format(t=wall_clock.sql("spark"), tz=zone.sql("spark")), read="spark")


def to_spark(sql: str, params: Mapping[str, Any] | None = None) -> str:
    """One statement of the raw gates in DuckDB SQL as Spark SQL, with `params` ($name) inlined as literals."""
    statements = sqlglot.parse(sql, read="duckdb")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    tree = statements[0].transform(lambda node: _rewrite(node, dict(params or {})))
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
