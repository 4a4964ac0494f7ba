"""Create an empty warehouse with the raw/quarantine/ops tables, so dbt can compile and unit-test without data."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestration.lib.warehouse import connect, ensure_tables

# The customer-id key the tests hand to dbt where a warehouse has no privacy key of its own (dbt unit tests, dbt
# run on hand-made raw rows): fixed, so the unit tests' expected ids can be computed by hand
# (orchestration.lib.customer_ids.keyed_customer_id). Never a production key: the pipeline derives its own from the
# privacy key.
TEST_CUSTOMER_ID_KEY = "0123456789abcdef" * 4


def create_empty(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(path))
    try:
        ensure_tables(con)
    finally:
        con.close()


if __name__ == "__main__":
    create_empty(Path(sys.argv[1]))
