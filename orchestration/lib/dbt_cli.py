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

It also drops, before they are formatted, the events no logger of the invocation would write. dbt turns every event
into a protobuf message and then, for each logger (the console's and the log file's), into a line of JSON or text,
and only then does Python's logging drop the line below the logger's level: every statement dbt runs fires several
debug events that the pipeline's loggers (info, JOURNEY_LOG_LEVEL aside) never write. An event is dropped here
only when nothing would have used it: no callback is registered (dbt's Python API registers them; the command line
does not), it is not a warning or an error (dbt may have to raise on those), not one of dbt's print events (always
written), and its level is below the level of every logger. `--log-level debug` or `--log-level-file debug` write
every event, as before.

The pipeline (orchestration/defs/dbt/project.py), the tests and the Makefile run dbt through it; plain `dbt` works
on the same project, at the price of a full parse where the folder changed (and formats the unwritten events).
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


def _drop_events_no_logger_writes() -> None:
    from dbt_common.events import logger as event_loggers
    from dbt_common.events.event_manager import EventManager

    fire_event = EventManager.fire_event
    if getattr(fire_event, "journey_drops_unwritten", False):
        return
    rank = event_loggers._log_level_map  # dbt's own: the level each logger's Python logger is set to
    print_events = event_loggers.PRINT_EVENT_NAMES
    below_warnings = rank[event_loggers.EventLevel.WARN]

    def fire_unless_unwritten(self, e, level=None, node=None, force_warn_or_error_handling=False):
        event_rank = rank.get(level or e.level_tag(), below_warnings)
        if (event_rank < below_warnings and not force_warn_or_error_handling and not self.callbacks
                and type(e).__name__ not in print_events
                and all(event_rank < rank.get(logger.level, 0) for logger in self.loggers)):
            return None
        return fire_event(self, e, level=level, node=node, force_warn_or_error_handling=force_warn_or_error_handling)

    fire_unless_unwritten.journey_drops_unwritten = True
    EventManager.fire_event = fire_unless_unwritten


def main() -> int:
    from dbt.cli.main import cli

    _hash_the_path_by_its_name()
    _drop_events_no_logger_writes()
    sys.argv[0] = "dbt"
    return cli()


if __name__ == "__main__":
    sys.exit(main())
