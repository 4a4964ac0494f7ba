"""The rules every raw source shares, built from the export contract (rules.contract).

Each rule is the SQL of a row-level expectation (not null, matches a regex, in a set, between, a pair in order)
or a key aggregate (repeats, conflicts); expectations.raw_profile counts them in DuckDB and GX judges the counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

from expectations import patterns
from expectations.raw_profile import KEY_CONFLICT, KEY_REPEAT, Derived, RawRule, RawSpec, key_text, literal
from orchestration.lib.warehouse import quote
from rules.contract import CURRENCIES, SOURCES, Source, timestamp_sql
from rules.thresholds import RawThresholds, default_timestamp_floor, raw_thresholds

# Columns whose values are email addresses or phone numbers, wherever a source carries them.
EMAIL_COLUMNS = ("email",)
PHONE_COLUMNS = ("phone",)


def rule(name: str, column: str | None = None, **extra: Any) -> dict[str, Any]:
    """Expectation meta: the rule's machine name and the export column it is about (for reports)."""
    meta: dict[str, Any] = {"rule": name}
    if column is not None:
        meta["column"] = column
    meta.update(extra)
    return meta


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def floor_datetime(floor: date | None) -> datetime:
    return datetime.combine(floor or default_timestamp_floor(), time.min)


def key_columns(source: Source) -> list[str]:
    """The columns that identify one record: the key, plus the version timestamp for versioned sources."""
    return [source.key, source.timestamp] if source.versioned else [source.key]


def _regex(column: str, pattern: str) -> str:
    return f"regexp_matches({quote(column)}, {literal(pattern)})"


def _not_null_rule(name: str, column: str, mostly: float = 1.0, **meta: Any) -> RawRule:
    """Every row counts; a null (or blank) value breaks the rule."""
    return RawRule(name, column, "expect_column_values_to_not_be_null", (column,), "true",
                   f"{quote(column)} is null", quote(column), column, mostly, meta=meta)


def _regex_rule(name: str, column: str, pattern: str, mostly: float = 1.0) -> RawRule:
    """Non-null values count; one the pattern does not find breaks the rule (GX: re.search, as here)."""
    present = f"{quote(column)} is not null"
    return RawRule(name, column, "expect_column_values_to_match_regex", (column,), present,
                   f"{present} and not {_regex(column, pattern)}", quote(column), column, mostly,
                   meta={"regex": pattern})


def _range_rule(name: str, column: str, value: str, low: Any = None, high: Any = None,
                mostly: float = 1.0, inputs: Sequence[str] = ()) -> RawRule:
    """Non-null values of the derived column `value` count (NaN too is missing, as in pandas); one below `low` or
    above `high` (inclusive bounds; datetimes or numbers) breaks the rule."""
    v = quote(value)
    numeric = not isinstance(low if low is not None else high, datetime)
    present = f"{v} is not null" + (f" and not isnan({v})" if numeric else "")
    outside = []
    if low is not None:
        outside.append(f"{v} < {_sql_value(low)}")
    if high is not None:
        outside.append(f"{v} > {_sql_value(high)}")
    meta = {"parsed": value, **({"min_value": jsonable_bound(low)} if low is not None else {}),
            **({"max_value": jsonable_bound(high)} if high is not None else {})}
    return RawRule(name, column, "expect_column_values_to_be_between", tuple(inputs or (column,)), present,
                   f"{present} and ({' or '.join(outside)})", v, value, mostly, meta=meta)


def _set_rule(name: str, column: str, normalized: str, values: Sequence[str], mostly: float) -> RawRule:
    n = quote(normalized)
    present = f"{n} is not null"
    return RawRule(name, column, "expect_column_values_to_be_in_set", (column,), present,
                   f"{present} and {n} not in ({', '.join(literal(v) for v in values)})", n, normalized, mostly,
                   meta={"normalized": normalized, "value_set": list(values)})


def _sql_value(value: Any) -> str:
    if isinstance(value, datetime):
        return f"timestamp '{value.isoformat(sep=' ', timespec='microseconds')}'"
    return repr(float(value))


def jsonable_bound(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value


def build_raw_spec(
    source_name: str,
    thresholds: RawThresholds | None = None,
    now: datetime | None = None,
    ordered: Sequence[tuple[str, str, str]] = (),
) -> RawSpec:
    """The contract's rules for one raw source at its thresholds, in the order of the reports.

    `now` (naive UTC) bounds timestamps. `ordered` lists (earlier, later, rule name) timestamp pairs that must be in
    order (up to `clock_skew`) wherever both parse."""
    source = SOURCES[source_name]
    t = thresholds or raw_thresholds(source_name)
    now = now or utc_now()
    floor = floor_datetime(t.timestamp_floor)
    latest = now + t.future_tolerance
    keys = tuple(key_columns(source))
    derived: list[Derived] = []
    rules: list[RawRule] = []

    key = source.key
    rules.append(_not_null_rule("key_not_null", key))
    # Duplicate rate: rows repeating an earlier row's key (the first copy does not count, so one re-sent event is
    # one unexpected row). Versioned sources repeat a key per version: their key is (key, version timestamp).
    rules.append(RawRule("key_unique", key, "expect_column_values_to_be_null", keys, "true", "false",
                         key_text(keys), "_repeated_key", t.key_unique_mostly, counted_by=KEY_REPEAT,
                         meta={"columns": list(keys)}))
    rules.append(RawRule("key_conflict_free", key, "expect_column_values_to_be_null", keys, "true", "false",
                         key_text(keys), "_key_conflict", t.key_conflict_free_mostly, counted_by=KEY_CONFLICT,
                         meta={"columns": list(keys)}))

    for ts in (source.timestamp, *source.optional_timestamps):
        required = ts == source.timestamp
        mostly = 1.0 if required else t.optional_parse_mostly
        parsed = f"{ts}__utc"
        derived.append(Derived(parsed, timestamp_sql(ts, source.timezone), (ts,)))
        if required:
            rules.append(_not_null_rule("timestamp_present", ts))
        rules.append(_regex_rule("timestamp_iso8601", ts, patterns.ISO_TIMESTAMP, mostly))
        rules.append(_range_rule("timestamp_not_future", ts, parsed, high=latest, mostly=mostly))
        rules.append(_range_rule("timestamp_not_before_floor", ts, parsed, low=floor, mostly=mostly))

    for column, values in source.enums.items():
        normalized = f"{column}__normalized"
        derived.append(Derived(normalized, f"lower(trim({quote(column)}))", (column,)))
        rules.append(_not_null_rule("enum_populated", column, t.enum_populated_mostly))
        rules.append(_set_rule("enum_known", column, normalized, values, t.enum_known_mostly))

    if source.amount:
        amount, number = source.amount, f"{source.amount}__number"
        derived.append(Derived(number, f"try_cast(trim({quote(amount)}) as double)", (amount,)))
        rules.append(_not_null_rule("amount_present", amount))
        rules.append(_regex_rule("amount_parseable", amount, patterns.NUMBER))
        rules.append(_range_rule("amount_non_negative", amount, number, low=0))
    if source.currency:
        currency, normalized = source.currency, f"{source.currency}__normalized"
        derived.append(Derived(normalized, f"upper(trim({quote(currency)}))", (currency,)))
        rules.append(_not_null_rule("currency_present", currency, t.currency_known_mostly))
        rules.append(_set_rule("currency_known", currency, normalized, CURRENCIES, t.currency_known_mostly))

    for column in source.columns:
        if column in EMAIL_COLUMNS:
            rules.append(_regex_rule("email_well_formed", column, patterns.EMAIL, t.email_valid_mostly))
        if column in PHONE_COLUMNS:
            low, high = patterns.PHONE_DIGITS
            phone = _regex_rule("phone_well_formed", column, patterns.PHONE_CHARACTERS, t.phone_valid_mostly)
            digits = f"length(regexp_replace({quote(column)}, '[^0-9]', '', 'g'))"
            well_formed = f"({_regex(column, patterns.PHONE_CHARACTERS)} and {digits} between {low} and {high})"
            rules.append(replace(phone, violation=f"{phone.checked} and not {well_formed}",
                                 meta={"regex": patterns.PHONE, "digits": [low, high]}))

    for column in source.numerics:
        number = f"{column}__number"
        derived.append(Derived(number, f"try_cast(trim({quote(column)}) as double)", (column,)))
        rules.append(_regex_rule("number_parseable", column, patterns.NUMBER, t.optional_parse_mostly))
        low, high = t.numeric_ranges.get(column, (None, None))
        if low is not None or high is not None:
            rules.append(_range_rule("number_in_range", column, number, low, high, t.optional_parse_mostly))

    for earlier, later, rule_name in ordered:
        shifted, before = f"{later}__utc_plus_skew", f"{earlier}__utc"
        skew = round(t.clock_skew.total_seconds() * 1_000_000)
        derived.append(Derived(shifted, f"(({timestamp_sql(later, source.timezone)}) + to_microseconds({skew}))",
                               (later,)))
        both = f"{quote(shifted)} is not null and {quote(before)} is not null"
        rules.append(RawRule(rule_name, earlier, "expect_column_pair_values_a_to_be_greater_than_b", (earlier, later),
                             both, f"{both} and {quote(shifted)} < {quote(before)}",
                             f"[{quote(shifted)}, {quote(before)}]", "_compared", t.optional_parse_mostly,
                             meta={"columns": [earlier, later], "column_A": shifted, "column_B": before,
                                   "or_equal": True}))

    # Rates mean little on a small batch (one re-sent event of 14 is 14%): a rate rule fails only when more than
    # `small_batch_allowance` values break it and the share is evidently above its threshold (the lower bound at
    # `rate_rule_confidence`). Strict rules (mostly 1.0) fail on any value.
    rules = [replace(r, allowance=t.small_batch_allowance, confidence=t.rate_rule_confidence) if r.mostly < 1.0
             else r for r in rules]
    content = tuple(c for c in source.columns if c not in keys)
    return RawSpec(source.name, tuple(source.required), keys, content, tuple(derived), tuple(rules), now)
