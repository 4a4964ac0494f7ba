"""The expectations every raw source shares, built from the export contract (orchestration.lib.contract)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe

from expectations import patterns
from expectations.prepare import derive
from expectations.thresholds import RawThresholds, default_timestamp_floor, raw_thresholds
from orchestration.lib.contract import CURRENCIES, LINEAGE_COLUMNS, SOURCES, Source

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


def build_raw_suite(
    source_name: str,
    thresholds: RawThresholds | None = None,
    now: datetime | None = None,
    ordered: Sequence[tuple[str, str, str]] = (),
    extra: Sequence[gxe.Expectation] = (),
) -> gx.ExpectationSuite:
    """The contract's expectations for one raw source at its thresholds, plus the source's own ones.

    `now` (naive UTC) bounds timestamps. `ordered` lists (earlier, later, rule name) timestamp pairs that must be in
    order (up to `clock_skew`) wherever both parse; `extra` any other expectations. Suites are built without a GX
    context (no `add_expectation`, which needs one).
    """
    source = SOURCES[source_name]
    t = thresholds or raw_thresholds(source_name)
    now = now or utc_now()
    floor = floor_datetime(t.timestamp_floor)
    latest = now + t.future_tolerance
    derived: list[dict[str, Any]] = []
    exps: list[gxe.Expectation] = []

    for column in source.required:
        exps.append(gxe.ExpectColumnToExist(column=column, meta=rule("column_present", column)))

    key = source.key
    keys = key_columns(source)
    exps.append(gxe.ExpectColumnValuesToNotBeNull(column=key, meta=rule("key_not_null", key)))
    # Duplicate rate: rows repeating an earlier row's key (the first copy does not count, so one re-sent event is
    # one unexpected row). Versioned sources repeat a key per version: their key is (key, version timestamp).
    derived.append(derive("_repeated_key", "key_repeat", key=keys, order=["_source_file", "_row_number"]))
    exps.append(gxe.ExpectColumnValuesToBeNull(
        column="_repeated_key", mostly=t.key_unique_mostly, meta=rule("key_unique", key, columns=keys)))
    content = [c for c in source.columns if c not in keys]
    derived.append(derive("_key_conflict", "key_conflict", key=keys, content=content))
    exps.append(gxe.ExpectColumnValuesToBeNull(
        column="_key_conflict", mostly=t.key_conflict_free_mostly, meta=rule("key_conflict_free", key, columns=keys)))

    for ts in (source.timestamp, *source.optional_timestamps):
        required = ts == source.timestamp
        mostly = 1.0 if required else t.optional_parse_mostly
        parsed = f"{ts}__utc"
        derived.append(derive(parsed, "timestamp", ts, tz=source.timezone))
        if required:
            exps.append(gxe.ExpectColumnValuesToNotBeNull(column=ts, meta=rule("timestamp_present", ts)))
        exps.append(gxe.ExpectColumnValuesToMatchRegex(
            column=ts, regex=patterns.ISO_TIMESTAMP, mostly=mostly, meta=rule("timestamp_iso8601", ts)))
        exps.append(gxe.ExpectColumnValuesToBeBetween(
            column=parsed, max_value=latest, mostly=mostly, meta=rule("timestamp_not_future", ts, parsed=parsed)))
        exps.append(gxe.ExpectColumnValuesToBeBetween(
            column=parsed, min_value=floor, mostly=mostly, meta=rule("timestamp_not_before_floor", ts, parsed=parsed)))

    for column, values in source.enums.items():
        normalized = f"{column}__normalized"
        derived.append(derive(normalized, "lower", column))
        exps.append(gxe.ExpectColumnValuesToNotBeNull(
            column=column, mostly=t.enum_populated_mostly, meta=rule("enum_populated", column)))
        exps.append(gxe.ExpectColumnValuesToBeInSet(
            column=normalized, value_set=list(values), mostly=t.enum_known_mostly,
            meta=rule("enum_known", column, normalized=normalized)))

    if source.amount:
        amount, number = source.amount, f"{source.amount}__number"
        derived.append(derive(number, "number", amount))
        exps.append(gxe.ExpectColumnValuesToNotBeNull(column=amount, meta=rule("amount_present", amount)))
        exps.append(gxe.ExpectColumnValuesToMatchRegex(
            column=amount, regex=patterns.NUMBER, meta=rule("amount_parseable", amount)))
        exps.append(gxe.ExpectColumnValuesToBeBetween(
            column=number, min_value=0, meta=rule("amount_non_negative", amount, parsed=number)))
    if source.currency:
        currency, normalized = source.currency, f"{source.currency}__normalized"
        derived.append(derive(normalized, "upper", currency))
        exps.append(gxe.ExpectColumnValuesToNotBeNull(
            column=currency, mostly=t.currency_known_mostly, meta=rule("currency_present", currency)))
        exps.append(gxe.ExpectColumnValuesToBeInSet(
            column=normalized, value_set=list(CURRENCIES), mostly=t.currency_known_mostly,
            meta=rule("currency_known", currency, normalized=normalized)))

    for column in source.columns:
        if column in EMAIL_COLUMNS:
            exps.append(gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=patterns.EMAIL, mostly=t.email_valid_mostly,
                meta=rule("email_well_formed", column)))
        if column in PHONE_COLUMNS:
            exps.append(gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=patterns.PHONE, mostly=t.phone_valid_mostly,
                meta=rule("phone_well_formed", column)))

    for column in source.numerics:
        number = f"{column}__number"
        derived.append(derive(number, "number", column))
        exps.append(gxe.ExpectColumnValuesToMatchRegex(
            column=column, regex=patterns.NUMBER, mostly=t.optional_parse_mostly,
            meta=rule("number_parseable", column)))
        low, high = t.numeric_ranges.get(column, (None, None))
        if low is not None or high is not None:
            exps.append(gxe.ExpectColumnValuesToBeBetween(
                column=number, min_value=low, max_value=high, mostly=t.optional_parse_mostly,
                meta=rule("number_in_range", column, parsed=number)))

    for earlier, later, rule_name in ordered:
        shifted = f"{later}__utc_plus_skew"
        derived.append(derive(shifted, "timestamp", later, tz=source.timezone,
                              plus_seconds=t.clock_skew.total_seconds()))
        exps.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=shifted, column_B=f"{earlier}__utc", or_equal=True, mostly=t.optional_parse_mostly,
            ignore_row_if="either_value_is_missing", meta=rule(rule_name, earlier, columns=[earlier, later])))

    # Rates mean little on a small batch (one re-sent event of 14 is 14%): a rate rule fails only when more than
    # `small_batch_allowance` values break it. Strict rules (mostly 1.0) get no allowance.
    for expectation in [*exps, *extra]:
        if (getattr(expectation, "mostly", None) or 1.0) < 1.0:
            expectation.meta = {**(expectation.meta or {}), "allowance": t.small_batch_allowance}

    return gx.ExpectationSuite(
        name=f"raw.{source.name}",
        expectations=[*exps, *extra],
        meta={
            "layer": "raw", "source": source.name, "key": keys, "derived": derived,
            "lineage": [c for c in LINEAGE_COLUMNS if c != "_load_id"],
            "built_at": now.isoformat(timespec="seconds"),
        },
    )

