"""`journey-dbt`: dbt's own command line, whose parse state a warehouse in another folder can reuse.

dbt keeps its parse state (`partial_parse.msgpack`) and parses again only the files that changed, unless the
profile's connection settings changed: then it parses the whole project again (10-20 s, "Unable to do partial
parsing because profile has changed"). The DuckDB profile's `path` is the build file beside the warehouse, so the
first build of every warehouse in a new folder paid that, and so did every test that builds a warehouse of its own.

Of the path, only the file's name reaches what dbt parses: the database name (`journey.duckdb.build` is database
`journey.duckdb`) is in every node of the manifest. So this entry point hashes the path's name instead of the whole
path when dbt decides whether its parse state still holds: a warehouse of the same name in another folder starts
from the state `make parse` (or a previous build) left, one of another name still parses again. Everything else
is dbt's, unchanged: the connection uses the full path, and `target.path` in jinja is the full path too (no model
or macro of this project reads it; one that did would need this entry point dropped).

The pipeline (orchestration/defs/dbt/project.py), the tests and the Makefile run dbt through it; plain `dbt` works
on the same project, at the price of a full parse where the folder changed.
"""

from __future__ import annotations

import os
import sys


def _hash_the_path_by_its_name() -> None:
    from dbt.parser.manifest import ManifestLoader

    build_state_check = ManifestLoader.build_manifest_state_check
    if getattr(build_state_check, "journey_path_by_name", False):
        return

    def build_manifest_state_check(self):
        credentials = self.root_project.credentials
        path = getattr(credentials, "path", None)
        if (getattr(credentials, "type", None) != "duckdb" or not isinstance(path, str)
                or path == ":memory:" or path.startswith(("md:", "motherduck:"))):
            return build_state_check(self)  # another adapter, or no local file
        credentials.path = os.path.basename(path)
        try:
            return build_state_check(self)
        finally:
            credentials.path = path

    build_manifest_state_check.journey_path_by_name = True
    ManifestLoader.build_manifest_state_check = build_manifest_state_check


def main() -> int:
    from dbt.cli.main import cli

    _hash_the_path_by_its_name()
    sys.argv[0] = "dbt"
    return cli()


if __name__ == "__main__":
    sys.exit(main())
