"""The Dagster instance of one `journey run`: in memory, with one planned-check record per check.

Dagster (1.13) logs an "asset check planned" event for every check when a run is created and, in a run over a
partition range, stores one row per partition of the range for each check, even for checks that are not
partitioned (none of this project's are: dbt tests and quality gates judge whole tables or the run's batch).
Each row serialises the whole event, partition subset included, so the cost grows with checks x export dates:
205 checks x 60 dates (the sample) is 12,300 serialised rows before the first step runs; a backfill of 150 dates,
30,750; and after the check ran, all but one of those rows still say "planned". Here the planned event of a check
that is not partitioned carries no partitions, so it is stored once and its evaluation completes it.
Nothing else changes: every check still gets its planned event and its evaluation, and the run's result is read
as before.
"""

from __future__ import annotations

import dagster as dg


def _without_check_partitions(event: dg.EventLogEntry) -> dg.EventLogEntry:
    dagster_event = event.dagster_event
    if dagster_event is None or dagster_event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
        return event
    planned = dagster_event.event_specific_data
    if getattr(planned, "partitions_subset", None) is None:
        return event
    from dagster_shared.record import copy

    return event._replace(dagster_event=dagster_event._replace(
        event_specific_data=copy(planned, partitions_subset=None)))


def run_instance() -> dg.DagsterInstance:
    """An ephemeral instance (what `execute_in_process` would make) whose event log stores the planned event of
    each check once. Right only while no check of the code location is partitioned, which
    `tests/test_definitions.py` asserts."""
    instance = dg.DagsterInstance.ephemeral()
    storage = instance.event_log_storage
    store_event = storage.store_event

    def store(event: dg.EventLogEntry) -> None:
        store_event(_without_check_partitions(event))

    storage.store_event = store  # this instance's storage only
    return instance
