"""Keyed customer ids: the key dbt makes them with, and the dbt-duckdb plugin that hands it to DuckDB.

A new customer id is `'cus_' + the first 16 hex digits of HMAC-SHA256(customer-id key, input)`, where input is
what the id map derives it from (the component's oldest identifier node, `|split from <id>` when it split from a
customer; `rekey|<old id>` when an md5 id of an older version is replaced). Without the key nobody can compute the
id of an identifier, so a list of e-mails does not re-identify the pseudonymous rows of the BI file.

The customer-id key is derived from the privacy secret (`privacy.privacy_key`: JOURNEY_PRIVACY_KEY, else
`<warehouse>.key`) as HMAC-SHA256(privacy key, "journey customer id key"): a key for this purpose only, so no id
can be compared with a hash of the suppression list (`sha256(privacy key || '|' || node)`), and dbt's process never
holds the privacy key itself.

How it reaches DuckDB without being written anywhere dbt writes (compiled SQL under target/, the manifest,
run_results.json, dbt's and Dagster's logs, the warehouse file): the pipeline's dbt step puts the derived key, hex,
in the environment variable JOURNEY_CUSTOMER_ID_KEY of dbt's process only (orchestration/defs/dbt/assets.py).
dbt_project/profiles.yml loads `Plugin` below, which reads it and sets two DuckDB variables on every connection and
cursor dbt opens (HMAC's inner and outer padded keys, `journey_customer_id_inner` / `_outer`); the macro
`keyed_customer_id` (dbt_project/macros/customer_ids.sql) reads them with getvariable(). A session variable lives in
the process's memory only; the SQL dbt compiles and logs names the variables, never their values. Without the
variable, the id map's build fails with an error that says so (no id is ever made from an empty key).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

CUSTOMER_ID_KEY_ENV = "JOURNEY_CUSTOMER_ID_KEY"
# DuckDB variables the plugin sets and dbt_project/macros/customer_ids.sql reads
INNER_VARIABLE = "journey_customer_id_inner"
OUTER_VARIABLE = "journey_customer_id_outer"
_DERIVATION = b"journey customer id key"
_HEX_KEY = re.compile(r"[0-9a-f]{64}")


def customer_id_key(privacy_key: str) -> str:
    """The customer-id key (64 hex digits) derived from the privacy secret."""
    return hmac.new(privacy_key.encode(), _DERIVATION, hashlib.sha256).hexdigest()


def keyed_customer_id(key_hex: str, text: str) -> str:
    """The id the macro keyed_customer_id makes of `text` (tests and by-hand checks)."""
    return "cus_" + hmac.new(bytes.fromhex(key_hex), text.encode(), hashlib.sha256).hexdigest()[:16]


def hmac_pads(key_hex: str) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104): the key zero-padded to SHA-256's 64-byte block, XOR
    0x36 and XOR 0x5c. With them SQL computes sha256(outer || sha256(inner || message)), which is the HMAC."""
    if not _HEX_KEY.fullmatch(key_hex):
        raise ValueError(f"{CUSTOMER_ID_KEY_ENV} must be 64 lower-case hex digits (a derived customer-id key)")
    block = bytes.fromhex(key_hex).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


try:  # dbt-duckdb is installed with the project; the module is also imported where only the functions are needed
    from dbt.adapters.duckdb.plugins import BasePlugin
except ImportError:  # pragma: no cover
    BasePlugin = object  # type: ignore[assignment,misc]


class Plugin(BasePlugin):  # type: ignore[misc,valid-type]
    """dbt-duckdb plugin (profiles.yml `plugins:`): the customer-id key as DuckDB variables on every connection and
    cursor (a cursor is a connection of its own in DuckDB and does not inherit the parent's variables). Without
    JOURNEY_CUSTOMER_ID_KEY it sets nothing: dbt parse, compile and docs need no key; building the id map does."""

    def initialize(self, plugin_config) -> None:
        key = os.environ.get(CUSTOMER_ID_KEY_ENV, "").strip()
        self._pads = hmac_pads(key) if key else None

    def configure_connection(self, conn) -> None:
        self._set(conn)

    def configure_cursor(self, cursor) -> None:
        self._set(cursor)

    def _set(self, connection) -> None:
        if self._pads is None:
            return
        inner, outer = self._pads
        # hex digits of our own making, no user text: literal values keep the statement a plain SET
        connection.execute(f"set variable {INNER_VARIABLE} = from_hex('{inner.hex()}')")
        connection.execute(f"set variable {OUTER_VARIABLE} = from_hex('{outer.hex()}')")


def key_for_warehouse(warehouse: Path, create: bool = True) -> str | None:
    """The customer-id key of a warehouse (from its privacy key; the key file is created when missing and
    `create`)."""
    from orchestration.lib.privacy import privacy_key

    key = privacy_key(warehouse, create=create)
    return customer_id_key(key) if key else None


ID_MAP = "int_identity__customer_id_map"


def has_legacy_customer_ids(build: Path) -> bool:
    """Whether the build file's id map holds rows an older version wrote with md5 ids (no customer_id_scheme):
    the next dbt build re-keys them."""
    if not build.exists():
        return False
    import duckdb

    con = duckdb.connect(str(build), read_only=True)
    try:
        columns = {r[0] for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'intermediate' and table_name = ?",
            [ID_MAP]).fetchall()}
        if not columns:
            return False
        if "customer_id_scheme" not in columns:
            return bool(con.execute(f"select count(*) from intermediate.{ID_MAP}").fetchone()[0])
        return bool(con.execute(
            f"select count(*) from intermediate.{ID_MAP} where customer_id_scheme is null").fetchone()[0])
    finally:
        con.close()


if __name__ == "__main__":  # `python -m orchestration.lib.customer_ids WAREHOUSE`: the key, to run dbt by hand
    import sys

    found = key_for_warehouse(Path(sys.argv[1]).resolve(), create=False) if len(sys.argv) == 2 else None
    if found is None:
        sys.exit("usage: python -m orchestration.lib.customer_ids WAREHOUSE (a warehouse with a privacy key: "
                 "JOURNEY_PRIVACY_KEY or WAREHOUSE.key)")
    print(found)
