"""`journey-dbt` (orchestration/lib/dbt_cli.py): the events it drops are exactly those no logger would write, and it
writes no manifest where the pipeline says so."""

import io

import pytest
from dbt_common.events import base_types
from dbt_common.events.base_types import EventLevel
from dbt_common.events.event_manager import EventManager
from dbt_common.events.logger import LineFormat, LoggerConfig
from dbt_common.events.types import Note, PrintEvent
from dbt_common.exceptions import EventCompilationError

from orchestration.lib.dbt_cli import MANIFEST_FILES, WRITE_MANIFEST_ENV, _drop_events_no_logger_writes
from tests.helpers import dbt


@pytest.fixture
def manager(monkeypatch):
    """An event manager with dbt's fire_event as journey-dbt leaves it, counting the events turned into messages."""
    monkeypatch.setattr(EventManager, "fire_event", EventManager.fire_event)  # restored after the test
    _drop_events_no_logger_writes()
    made = []
    to_message = base_types.msg_from_base_event

    def counted(event, level=None):
        made.append(event.msg)
        return to_message(event, level=level)

    monkeypatch.setattr("dbt_common.events.event_manager.msg_from_base_event", counted)
    manager = EventManager()
    manager.made = made
    return manager


def logger(manager: EventManager, level: EventLevel) -> io.StringIO:
    stream = io.StringIO()
    manager.add_logger(LoggerConfig(name=f"journey-test-{level.value}-{id(stream)}", level=level,
                                    line_format=LineFormat.Json, output_stream=stream))
    return stream


def test_an_event_below_every_loggers_level_is_not_made_into_a_line(manager):
    console, log_file = logger(manager, EventLevel.INFO), logger(manager, EventLevel.INFO)
    manager.fire_event(Note(msg="a statement"), level=EventLevel.DEBUG)
    assert manager.made == [] and console.getvalue() == log_file.getvalue() == ""
    manager.fire_event(Note(msg="a model built"))
    assert manager.made == ["a model built"]
    assert "a model built" in console.getvalue() and "a model built" in log_file.getvalue()


def test_an_event_a_logger_writes_is_written_as_before(manager):
    console, log_file = logger(manager, EventLevel.INFO), logger(manager, EventLevel.DEBUG)
    manager.fire_event(Note(msg="a statement"), level=EventLevel.DEBUG)
    assert manager.made == ["a statement"]
    assert "a statement" in log_file.getvalue() and console.getvalue() == ""


def test_callbacks_print_events_and_warnings_still_get_every_event(manager):
    console = logger(manager, EventLevel.ERROR)
    seen = []
    manager.add_callback(lambda message: seen.append(message.info.msg))
    manager.fire_event(Note(msg="for the callback"), level=EventLevel.DEBUG)
    assert seen == ["for the callback"]
    manager.callbacks.clear()
    manager.fire_event(PrintEvent(msg="printed"))  # dbt writes these even above their level (--quiet)
    assert "printed" in console.getvalue()
    manager.require_warn_or_error_handling, manager.warn_error = True, True  # --warn-error: a warning still raises
    with pytest.raises(EventCompilationError):
        manager.fire_event(Note(msg="a warning"), level=EventLevel.WARN)


@pytest.mark.slow
@pytest.mark.parametrize(("setting", "command", "writes"), [("0", "compile", False), (None, "compile", True),
                                                            ("0", "parse", True)])
def test_the_manifest_is_written_unless_the_pipeline_says_not_to(tmp_path, monkeypatch, setting, command, writes):
    """JOURNEY_DBT_WRITE_MANIFEST=0 (the pipeline's dbt step) skips manifest.json, semantic_manifest.json and
    graph.gpickle; the parse state is kept. Without it, and for `dbt parse` (`make parse`, the Dagster definitions'
    manifest) whatever it says, journey-dbt writes them as dbt does. `dbt compile` of one model runs both of a
    build's writes: after loading the project and at the end."""
    if setting is None:
        monkeypatch.delenv(WRITE_MANIFEST_ENV, raising=False)
    else:
        monkeypatch.setenv(WRITE_MANIFEST_ENV, setting)
    target = tmp_path / "target"
    args = ("compile", "--select", "stg_crm__contacts") if command == "compile" else ("parse",)
    ran = dbt(*args, warehouse=tmp_path / "journey.duckdb", target=target)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    written = {p.name for p in target.iterdir()}
    assert {"partial_parse.msgpack", "dbt.log"} <= written, sorted(written)
    assert (written & set(MANIFEST_FILES)) == (set(MANIFEST_FILES) if writes else set()), sorted(written)
