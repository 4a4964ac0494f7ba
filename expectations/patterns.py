"""Regular expressions for text as delivered (surrounding whitespace is tolerated: staging trims it)."""

from __future__ import annotations

# ISO-8601 date or date-time: 2026-09-01, 2026-09-01T10:15, 2026-09-01 10:15:00.123+02:00, ...Z
ISO_TIMESTAMP = (
    r"^\s*\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?\s*(?:[Zz]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?\s*$"
)
# A decimal number as DuckDB's try_cast reads it: 12, -3.5, .5, 1e3 (no thousands separators).
NUMBER = r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$"
# Negative and not zero: -0.01 breaks "non-negative", -0.00 does not.
NEGATIVE_NUMBER = r"^\s*-\s*0*(?:[1-9]|\.0*[1-9])"
# local@domain.tld, any case; placeholders such as noemail@example.com are well-formed (identity rules drop them).
EMAIL = (
    r"^\s*[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\s*$"
)
# 7 to 15 digits (E.164 allows 15) with an optional leading + and the usual separators: +44 20 7946 0958,
# (020) 7946-0958, 020.7946.0958.
PHONE = r"^(?=(?:\D*\d){7,15}\D*$)\s*\+?[\d\s().\-/]+\s*$"
