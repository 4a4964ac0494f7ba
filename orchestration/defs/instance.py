"""The Dagster instance of one `journey run`: in memory, keeping the run's lifecycle, not its asset events.

Nothing reads a `journey run`'s event log after the run: the summary comes from the in-process result (which holds
every event of the run), the progress lines from a listener that sees every event, and the instance is gone when
the run ends. Storing an event still costs Dagster a serialisation and several SQL statements in its in-memory
SQLite, and a run has a few per dbt node (materialisation, check evaluation, output): about a tenth of the
Dagster process's CPU on the bundled sample, spent while dbt waits for that process to read its log stream.
Worse, Dagster (1.13) stores the "asset check planned" event of every check once per export date of a run over a
partition range, even for checks that are not partitioned (none of this project's are): 205 checks x 150 dates is
30,750 serialised rows before the first step of a backfill. So this instance stores the run and step events and
the logs, and leaves out the asset events (materialisations, observations, check evaluations and their planned
events, step outputs); `dagster dev` and the daemon use their own persistent instance, which keeps everything.
"""

from __future__ import annotations

import dagster as dg

UNSTORED = frozenset({
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    dg.DagsterEventType.STEP_OUTPUT,
    dg.DagsterEventType.HANDLED_OUTPUT,
    dg.DagsterEventType.LOADED_INPUT,
})


def run_instance() -> dg.DagsterInstance:
    """An ephemeral instance (what `execute_in_process` would make) whose event log leaves out the asset events;
    listeners of the instance still receive every event."""
    instance = dg.DagsterInstance.ephemeral()
    storage = instance.event_log_storage
    store_event = storage.store_event

    def store(event: dg.EventLogEntry) -> None:
        if event.dagster_event is None or event.dagster_event.event_type not in UNSTORED:
            store_event(event)

    storage.store_event = store  # this instance's storage only
    return instance
