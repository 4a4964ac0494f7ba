"""`journey-dbt` (orchestration/lib/dbt_cli.py): the events it drops are exactly those no logger would write."""

import io

import pytest
from dbt_common.events import base_types
from dbt_common.events.base_types import EventLevel
from dbt_common.events.event_manager import EventManager
from dbt_common.events.logger import LineFormat, LoggerConfig
from dbt_common.events.types import Note, PrintEvent
from dbt_common.exceptions import EventCompilationError

from orchestration.lib.dbt_cli import _drop_events_no_logger_writes


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
