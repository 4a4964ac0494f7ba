"""Atomic publish and rollback of the warehouse file.

Readers open the published file read-only. A run writes a build file beside it; publishing checkpoints
the build file, compacts it when too much of it is dead space (JOURNEY_COMPACT_FREE_SHARE, see
warehouse.compact_if_fragmented: a rewrite into `<build>.compact` renamed over the build file, which nobody
reads), and renames it over the published path (os.replace is atomic on one file system), after hard-linking
the old version to `<path>.previous`. Readers that already had the old file open keep reading it until they
reconnect; new connections see the new version. There is no moment without a file at PATH, and a kill at any
point leaves the published file and `.previous` as they were or fully swapped.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.warehouse import Compaction, compact_free_share, compact_if_fragmented


@dataclass
class PublishResult:
    published: Path
    previous: Path | None
    compaction: Compaction


def previous_path(published: Path) -> Path:
    return published.with_name(published.name + ".previous")


def publish(build: Path, published: Path, compact_above: float | None = None) -> PublishResult:
    """Publish the build file; compact it first when its dead share (free blocks, deleted rows) is above
    `compact_above` (default: JOURNEY_COMPACT_FREE_SHARE, else warehouse.DEFAULT_COMPACT_FREE_SHARE)."""
    if not build.exists():
        raise FileNotFoundError(f"nothing to publish: build file {build} does not exist")
    threshold = compact_free_share() if compact_above is None else compact_above
    compaction = compact_if_fragmented(str(build), threshold, failpoint)  # checkpoints the build file first
    wal = build.with_name(build.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} still exists after a checkpoint; refusing to publish a file that depends on it")
    prev: Path | None = None
    if published.exists():
        prev = previous_path(published)
        prev.unlink(missing_ok=True)
        os.link(published, prev)
    failpoint("publish_after_link")
    os.replace(build, published)
    return PublishResult(published, prev, compaction)


def failpoint(name: str) -> None:
    """Crash tests only: JOURNEY_FAILPOINT=<name> kills this process here, as a power cut would."""
    if os.environ.get("JOURNEY_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def rollback(published: Path) -> Path:
    """Make the previous version the published one again (the current one is kept as `.previous`)."""
    prev = previous_path(published)
    if not prev.exists():
        raise FileNotFoundError(f"no previous version to roll back to: {prev} does not exist")
    swap = published.with_name(published.name + ".rollback")
    swap.unlink(missing_ok=True)
    os.link(prev, swap)
    if published.exists():
        prev.unlink()
        os.link(published, prev)
    os.replace(swap, published)
    return published
