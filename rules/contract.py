"""The export contract: the eight raw sources, their required and optional columns and the rules ingestion applies.

This module is the single source of truth for what a raw export must contain. The README's
contract table, the ingestion loader, the Great Expectations suites and the generator all read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FILE_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")

# Lineage columns every raw row carries (prefixed with an underscore so they never clash with export columns).
LINEAGE_COLUMNS = ("_source_file", "_row_number", "_export_date", "_loaded_at", "_file_sha256", "_load_id")


@dataclass(frozen=True)
class Source:
    """One raw export: its name, required columns and the columns ingestion must be able to parse."""

    name: str
    key: str
    timestamp: str
    columns: tuple[str, ...]
    # Columns a source may omit (the file is loaded without them; raw.<source> always has them, empty). When
    # present they are typed, normalised and linked like the required ones; the generator writes them after
    # the required columns.
    optional: tuple[str, ...] = ()
    # Other timestamps that may be empty; an unparseable value is nulled and recorded, the row is kept.
    optional_timestamps: tuple[str, ...] = ()
    # Money: unparseable or negative amounts quarantine the row, so every cent is accounted for.
    amount: str | None = None
    currency: str | None = None
    # Other numeric columns: a bad value is nulled and recorded, the row is kept.
    numerics: tuple[str, ...] = ()
    # Version column: several rows with the same key are versions of one entity (orders, CRM contacts).
    versioned: bool = False
    timezone: str = "UTC"
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        return self.columns

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Required columns, then optional ones: the columns of raw.<source> and of the generator's files."""
        return self.columns + self.optional


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="web_events",
            key="event_id",
            timestamp="occurred_at",
            columns=(
                "event_id", "occurred_at", "anonymous_id", "user_id", "event_type", "page_url",
                "referrer_url", "utm_source", "utm_medium", "utm_campaign", "device_type",
            ),
            optional=("order_id",),  # the shop's order id on purchase events (e-commerce tracking)
            enums={
                "event_type": ("page_view", "product_view", "add_to_cart", "checkout_start", "purchase", "login", "signup", "search"),
                "device_type": ("desktop", "mobile", "tablet"),
            },
        ),
        Source(
            name="app_events",
            key="event_id",
            timestamp="occurred_at",
            columns=("event_id", "occurred_at", "device_id", "user_id", "event_type", "screen_name", "campaign", "os"),
            enums={
                "event_type": (
                    "app_open", "screen_view", "product_view", "add_to_cart", "checkout_start", "purchase", "login",
                    "push_open",
                ),
                "os": ("ios", "android"),
            },
        ),
        Source(
            name="orders",
            key="order_id",
            timestamp="order_updated_at",
            columns=(
                "order_id", "order_updated_at", "placed_at", "user_id", "email", "phone", "first_name", "last_name",
                "street", "city", "postcode", "country", "status", "total_amount", "currency", "sales_channel",
            ),
            optional_timestamps=("placed_at",),
            amount="total_amount",
            currency="currency",
            versioned=True,
            enums={
                "status": ("placed", "paid", "shipped", "delivered", "cancelled", "returned"),
                "sales_channel": ("web", "app"),
            },
        ),
        Source(
            name="pos_transactions",
            key="transaction_id",
            timestamp="occurred_at",
            columns=("transaction_id", "occurred_at", "store_id", "loyalty_id", "phone", "total_amount", "currency", "items_count"),
            amount="total_amount",
            currency="currency",
            numerics=("items_count",),
        ),
        Source(
            name="email_events",
            key="event_id",
            timestamp="occurred_at",
            columns=("event_id", "occurred_at", "email", "campaign_id", "event_type", "link_url"),
            optional=("subscriber_id",),  # the e-mail service provider's id of the list member
            enums={"event_type": ("sent", "delivered", "open", "click", "bounce", "unsubscribe")},
        ),
        Source(
            name="crm_contacts",
            key="contact_id",
            timestamp="updated_at",
            columns=(
                "contact_id", "updated_at", "first_name", "last_name", "email", "phone", "birth_date", "street",
                "city", "postcode", "country", "loyalty_id", "marketing_consent", "personalization_consent",
            ),
            optional=("account_id",),  # the shop account (user_id) of the contact, when the CRM is fed by the shop
            versioned=True,
        ),
        Source(
            name="support_tickets",
            key="ticket_id",
            timestamp="opened_at",
            columns=("ticket_id", "opened_at", "closed_at", "email", "phone", "contact_channel", "category", "satisfaction_score"),
            optional_timestamps=("closed_at",),
            numerics=("satisfaction_score",),
            enums={
                "contact_channel": ("email", "phone", "chat", "store"),
                "category": ("delivery", "returns", "billing", "product", "account", "other"),
            },
        ),
        Source(
            name="reviews",
            key="review_id",
            timestamp="posted_at",
            columns=("review_id", "posted_at", "email", "user_id", "platform", "rating", "product_id"),
            numerics=("rating",),
            enums={"platform": ("website", "app_store", "google", "trustpilot")},
        ),
    )
}

CURRENCIES = ("USD", "EUR", "GBP")


# The timestamp texts both engines read alike (ISO-8601, ASCII): a date, optionally a time to the minute, second or
# fraction (digits past the microsecond are cut), optionally an offset (Z, +HH, +HHMM or +HH:MM, up to 18 hours),
# surrounded by ASCII whitespace or not. DuckDB's and Spark's casts each read more than this, but not alike (an hour
# 24, an offset of 24 hours, a zone name, a space before the offset, whitespace inside the text); such a text is
# unparseable on both engines. tests/test_spark_raw_gates.py runs every combination on both.
TIMESTAMP_SHAPE = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-](0[0-9]|1[0-8])(:?[0-5][0-9])?)?)?"
)
TIMESTAMP_PADDING = r"[ \t\n\x0B\f\r]"
# trim()'s characters: the padding's
TIMESTAMP_PADDING_CHARS = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


def timestamp_sql(column: str, tz: str = "UTC") -> str:
    """DuckDB SQL turning ISO-8601 text into a naive UTC timestamp (NULL if unparseable).

    Same rule as the dbt macro `parse_timestamp`: a text of TIMESTAMP_SHAPE, padded or not; text without an offset
    is read in the source's time zone. The common text (no padding) costs one regular expression and a cast; only a
    padded text is trimmed.
    """
    col = f'"{column}"'
    trimmed = f"trim({col}, {TIMESTAMP_PADDING_CHARS})"
    return (
        f"case when regexp_matches({col}, '^{TIMESTAMP_SHAPE}$') then {_shaped_timestamp_sql(col, tz)} "
        f"when regexp_matches({col}, '^{TIMESTAMP_PADDING}*{TIMESTAMP_SHAPE}{TIMESTAMP_PADDING}*$') "
        f"then {_shaped_timestamp_sql(trimmed, tz)} end"
    )


def _shaped_timestamp_sql(text: str, tz: str) -> str:
    """A text of TIMESTAMP_SHAPE as a naive UTC timestamp: an offset starts after the minutes (character 17)."""
    return (
        f"case when right({text}, 1) = 'Z' or contains(substr({text}, 17), '+') or contains(substr({text}, 17), '-') "
        f"then try_cast({text} as timestamptz) at time zone 'UTC' "
        f"else timezone('UTC', timezone('{tz}', try_cast({text} as timestamp))) end"
    )
