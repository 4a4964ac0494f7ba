"""Libraries imported in a thread while the run's process waits on something else (the disk, dbt's process).

Great Expectations (2-3 s) and PyMC-Marketing (4-6 s) take seconds to import, and a run's process spends seconds
waiting: on the copy of the published file, then on dbt. A step that waits starts the import of what a later step
needs (`start_imports`), and that later step calls `wait_for_imports` before it imports anything itself: two threads
importing the same modules could deadlock on their import locks. A failed import is left for the later step to
raise when it imports the modules again, where it reports the error as its own.

A module that is in use by the waiting thread must be imported completely before the background thread starts
(`first`): its importer would otherwise expose it half-imported. SQLAlchemy is one: the run's Dagster instance
queries its in-memory SQLite through SQLAlchemy's core all along, and SQLAlchemy's core calls an inspection hook
for unknown values that `sqlalchemy.orm` installs part-way through its own import. Great Expectations imports
`sqlalchemy.orm`; a Dagster query in the step that waited, at that moment, failed the step ("partially initialized
module 'sqlalchemy.orm.exc' has no attribute 'UnmappedClassError'"). Importing it first costs about 0.06 s.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress

_started: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def start_imports(name: str, modules: Sequence[str], prepare: Callable[[], None] | None = None,
                  first: Sequence[str] = ()) -> threading.Thread:
    """Import `first` here, then `modules` in a daemon thread `import-<name>` (after `prepare()`, when given); the
    thread, which `wait_for_imports(name)` joins."""
    for module in first:
        importlib.import_module(module)

    def load() -> None:
        if prepare is not None:
            prepare()
        with suppress(Exception):
            for module in modules:
                importlib.import_module(module)

    thread = threading.Thread(target=load, name=f"import-{name}", daemon=True)
    with _lock:
        _started[name] = thread
    thread.start()
    return thread


def wait_for_imports(name: str) -> None:
    """Wait for the imports started as `name`, if any were."""
    with _lock:
        thread = _started.get(name)
    if thread is not None:
        thread.join()
