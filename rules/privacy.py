"""Which export columns are direct identifiers of a person (docs/privacy.md).

Their values never appear in quality reports, run summaries or logs (a failed rule's sample rows show them
redacted, with the file and line to look them up in the export), and the BI file leaves them out.
"""

DIRECT_IDENTIFIER_COLUMNS = frozenset({"email", "phone", "first_name", "last_name", "street", "postcode",
                                       "birth_date"})


def redacted_sql(expression: str) -> str:
    """SQL: a value replaced by what it looked like (its length), null kept."""
    return f"case when ({expression}) is null then null else '<redacted, ' || length(cast(({expression}) as varchar)) || ' characters>' end"
