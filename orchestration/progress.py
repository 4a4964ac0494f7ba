"""What a `journey run` is doing while it runs: files loaded of total per source, dbt models done of total, the
gates passed, and publishing. Read from the run's Dagster events (a listener on the run's instance), written to
a stream (the terminal's stderr; the summary goes to stdout).

On a terminal the dbt and gate counters update one line in place; elsewhere (a log file, CI) each step is one line
and the counters print at every quarter, so the output stays short either way.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

import dagster as dg

RAW, DBT_TESTS, MART_GATES = "raw gates", "dbt tests", "mart gates"


class Progress:
    def __init__(self, stream: TextIO, defs: dg.Definitions,
                 dbt_assets: dg.AssetsDefinition | Sequence[dg.AssetsDefinition]) -> None:
        dbt_assets = [dbt_assets] if isinstance(dbt_assets, dg.AssetsDefinition) else list(dbt_assets)
        self.stream = stream
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.models = {k for a in dbt_assets for k in a.keys if k.path[0] in ("staging", "intermediate", "marts")}
        self.models_total = len(self.models)
        self.models_done = 0
        self.sources_done: set[dg.AssetKey] = set()
        self.dbt_checks = {k for a in dbt_assets for k in a.check_keys}
        self.check_totals: Counter[str] = Counter(self._group(k) for k in defs.resolve_asset_graph().asset_check_keys)
        self.checks_done: Counter[str] = Counter()
        self.checks_failed: Counter[str] = Counter()
        self._pending_line = False
        self._last_quarter: dict[str, int] = {}

    def _group(self, key: dg.AssetCheckKey) -> str:
        if key in self.dbt_checks:
            return DBT_TESTS
        return RAW if key.asset_key.path[0] == "raw" else MART_GATES

    # -- output ---------------------------------------------------------------------------------------------------

    def _elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:d}:{seconds % 60:02d}"

    def line(self, text: str) -> None:
        """A finished step: its own line."""
        if self._pending_line:
            self.stream.write("\r\x1b[2K")
            self._pending_line = False
        self.stream.write(f"[{self._elapsed()}] {text}\n")
        self.stream.flush()

    def counter(self, name: str, done: int, total: int, text: str) -> None:
        """A count towards a total: in place on a terminal, else at each quarter (and at the end)."""
        if self.live:
            self.stream.write(f"\r\x1b[2K[{self._elapsed()}] {text}")
            self.stream.flush()
            self._pending_line = True
            if done >= total:
                self.stream.write("\n")
                self._pending_line = False
            return
        quarter = 4 * done // max(total, 1)
        if quarter > self._last_quarter.get(name, 0) or done == total:
            if self._last_quarter.get(name) == 4:
                return
            self._last_quarter[name] = quarter
            self.line(text)

    def close(self) -> None:
        if self._pending_line:
            self.stream.write("\n")
            self.stream.flush()
            self._pending_line = False

    # -- events ---------------------------------------------------------------------------------------------------

    def on_event(self, entry) -> None:
        """Instance event listener: one call per event of the run, in the order they happen."""
        event = entry.dagster_event
        if event is None:
            return
        try:
            if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                self._materialized(event.asset_key, event.event_specific_data.materialization.metadata or {})
            elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                self._checked(evaluation.asset_check_key, evaluation.passed)
            elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
                self.line(f"step failed: {event.step_key} (details in the summary)")
        except Exception:  # progress must never break a run
            pass

    def _materialized(self, key: dg.AssetKey, metadata: dict) -> None:
        value = {name: getattr(v, "value", v) for name, v in metadata.items()}
        layer = key.path[0]
        if key == dg.AssetKey(["ops", "build_warehouse"]):
            self.line(f"build file ready ({value.get('start', 'started')})")
        elif layer == "raw":
            if key in self.sources_done:  # a run over a range of export dates reports each date's partition
                return
            self.sources_done.add(key)
            new, old = int(value.get("files_new") or 0), int(value.get("files_already_loaded") or 0)
            self.line(f"loaded {key.path[1]}: {new} of {new + old} files new, {int(value.get('rows_read') or 0):,} "
                      f"rows read, {int(value.get('rows_quarantined') or 0):,} quarantined")
        elif key == dg.AssetKey(["marts", "customer_predictions"]):  # the prediction step (not a dbt model)
            self.line(f"predicted purchases of {int(value.get('customers') or 0):,} customers")
        elif key in self.models:
            self.models_done += 1
            self.counter("dbt", self.models_done, self.models_total,
                         f"dbt models built: {self.models_done} of {self.models_total}")
        elif key == dg.AssetKey(["publish", "warehouse"]):
            self.line(f"published {value.get('published', '')}")

    def _checked(self, key: dg.AssetCheckKey, passed: bool) -> None:
        group = self._group(key)
        self.checks_done[group] += 1
        if not passed:
            self.checks_failed[group] += 1
            self.line(f"check FAILED: {key.asset_key.to_user_string()} {key.name}")
        done, total, failed = self.checks_done[group], self.check_totals[group], self.checks_failed[group]
        self.counter(group, done, total, f"{group}: {done} of {total} done" + (f", {failed} failed" if failed else ""))
