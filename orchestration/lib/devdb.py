"""Create an empty warehouse with the raw/quarantine/ops tables, so dbt can compile and unit-test without data."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestration.lib.warehouse import connect, ensure_tables


def create_empty(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(str(path))
    try:
        ensure_tables(con)
    finally:
        con.close()


if __name__ == "__main__":
    create_empty(Path(sys.argv[1]))
