"""Regular expressions for text as delivered (surrounding whitespace is tolerated: staging trims it).

The raw gates run them in DuckDB (RE2, `regexp_matches`: a search, like the `re.search` GX's pandas engine used),
so they are written for both engines alike: ASCII classes instead of `\\d` and `\\s` (in Python those match any
Unicode digit or space, in RE2 only ASCII ones, and RE2's `\\s` lacks the vertical tab), and no look-around (RE2
has none: the phone rule is a character pattern plus a digit count). Every pattern ends in `WS*$`, so Python's
`$` matching before a final newline makes no difference either. tests/test_quality.py runs both engines on the
generator's values and on edge cases. On the Spark engine they run as Java regular expressions, rewritten where Java
reads an escape otherwise (expectations/raw_spark_sql.py `java_regex`; tests/test_spark_raw_gates.py).
"""

from __future__ import annotations

import re

from rules.contract import TIMESTAMP_PADDING, TIMESTAMP_SHAPE

# Whitespace as RE2 and Python agree on it (ASCII).
WS = r"[ \t\n\r\f\v]"
# ISO-8601 date or date-time as both engines read it (rules.contract.TIMESTAMP_SHAPE, padded by ASCII whitespace or
# not): 2026-09-01, 2026-09-01T10:15, 2026-09-01 10:15:00.123+02:00, ...Z. A text of this form parses unless its
# date does not exist (2026-02-30); ingestion quarantines a text that does not parse as `unparseable_timestamp`.
ISO_TIMESTAMP = rf"^{TIMESTAMP_PADDING}*{TIMESTAMP_SHAPE}{TIMESTAMP_PADDING}*$"
# A decimal number as DuckDB's try_cast reads it: 12, -3.5, .5, 1e3 (no thousands separators).
NUMBER = rf"^{WS}*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?{WS}*$"
# local@domain.tld, any case; placeholders such as noemail@example.com are well-formed (identity rules drop them).
EMAIL = (
    rf"^{WS}*[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    rf"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{{2,}}{WS}*$"
)
# 7 to 15 digits (E.164 allows 15) with an optional leading + and the usual separators: +44 20 7946 0958,
# (020) 7946-0958, 020.7946.0958. RE2 has no look-ahead, so the rule is two tests: the characters, and the count
# of digits among them.
PHONE_CHARACTERS = rf"^{WS}*\+?[0-9 \t\n\r\f\v().\-/]+$"
PHONE_DIGITS = (7, 15)
# The same rule as one Python regular expression (the reference the DuckDB form is tested against).
PHONE = rf"^(?=(?:[^0-9]*[0-9]){{7,15}}[^0-9]*$){WS}*\+?[0-9 \t\n\r\f\v().\-/]+{WS}*$"


def phone_well_formed(text: str) -> bool:
    """PHONE_CHARACTERS and PHONE_DIGITS in Python: what the gate's SQL computes for one value."""
    low, high = PHONE_DIGITS
    return re.search(PHONE_CHARACTERS, text) is not None and low <= sum(c in "0123456789" for c in text) <= high
