"""File formats: how each source system writes its nightly export into the landing folder.

    web_events .csv.gz      app_events .jsonl.gz    orders .csv             pos_transactions .parquet
    email_events .csv.gz    crm_contacts .csv       support_tickets .jsonl  reviews .csv

Every value is text; an empty string, or null in JSON and Parquet, where a system did not know it.
CSV: a header row, UTF-8, RFC-4180 quoting (csv module), '\\n' line ends except crm_contacts ('\\r\\n').
Columns are exactly `contract.SOURCES[source].all_columns` (required, then optional), in that order. Writing again to a day's file appends:
CSV rows without a second header, JSON lines, and in .gz files one more gzip member (a valid multi-member
stream). Parquet cannot be appended to, so a Parquet source is written once per day, at the end of a run.
gzip members have a fixed header (no file name, mtime 0), so same rows give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from rules.contract import SOURCES

FORMATS: dict[str, str] = {
    "web_events": "csv.gz",
    "app_events": "jsonl.gz",
    "orders": "csv",
    "pos_transactions": "parquet",
    "email_events": "csv.gz",
    "crm_contacts": "csv",
    "support_tickets": "jsonl",
    "reviews": "csv",
}


def appendable(source: str) -> bool:
    """Whether rows can be added to an existing file of this source (every format but Parquet)."""
    return FORMATS[source] != "parquet"


def gzip_text(raw: BinaryIO) -> io.TextIOWrapper:
    """A UTF-8 text stream into a gzip member with a fixed header (no name, mtime 0)."""
    return io.TextIOWrapper(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6),
                            encoding="utf-8", newline="")


def append_rows(path: Path, source: str, rows: list[tuple]) -> None:
    """Append rows to a landing file in the source's format, writing the header when the file is new."""
    columns = SOURCES[source].all_columns
    ext = FORMATS[source]
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    if ext in ("jsonl", "jsonl.gz"):
        lines = (
            json.dumps(dict(zip(columns, (v if v != "" else None for v in row), strict=True)),
                       ensure_ascii=False, separators=(",", ":")) + "\n"
            for row in rows
        )
        if ext == "jsonl.gz":
            with open(path, "ab") as raw, gzip_text(raw) as text:
                text.writelines(lines)
        else:
            with open(path, "a", encoding="utf-8", newline="") as text:
                text.writelines(lines)
        return
    terminator = "\r\n" if source == "crm_contacts" else "\n"
    if ext == "csv.gz":
        with open(path, "ab") as raw, gzip_text(raw) as text:
            writer = csv.writer(text, lineterminator=terminator)
            if new:
                writer.writerow(columns)
            writer.writerows(rows)
        return
    with open(path, "a", encoding="utf-8", newline="") as text:
        writer = csv.writer(text, lineterminator=terminator)
        if new:
            writer.writerow(columns)
        writer.writerows(rows)


def write_parquet(path: Path, source: str, rows: list[tuple]) -> None:
    """A Parquet file of string columns (empty values as nulls), zstd-compressed."""
    if path.exists():
        raise RuntimeError(f"{path} exists and Parquet cannot be appended to; write {source} once per day")
    columns = SOURCES[source].all_columns
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = [pa.array([row[i] or None for row in rows], type=pa.string()) for i in range(len(columns))]
    table = pa.Table.from_arrays(arrays, names=list(columns))
    pq.write_table(table, path, compression="zstd")


class LandingFile(NamedTuple):
    source: str
    export: int  # export day (0 = start date)
    rows: int


class Landing:
    """The landing folder being written, out/landing/<source>/<YYYY-MM-DD>/<source>_<YYYY-MM-DD>.<ext>,
    and what each file in it holds."""

    def __init__(self, out: Path, date_text: Callable[[int], str]) -> None:
        self.out = out
        self._date_text = date_text
        self.files: dict[Path, LandingFile] = {}

    def folder(self, source: str, export: int) -> Path:
        return self.out / "landing" / source / self._date_text(export)

    def name(self, source: str, export: int, suffix: str = "") -> str:
        return f"{source}_{self._date_text(export)}{suffix}.{FORMATS[source]}"

    def write(self, source: str, items: list[tuple]) -> None:
        """Write queued items (export day, time, person, row), sorted by export day, to one file per day."""
        start = 0
        while start < len(items):
            export = items[start][0]
            end = start
            while end < len(items) and items[end][0] == export:
                end += 1
            rows = [item[3] for item in items[start:end]]
            path = self.folder(source, export) / self.name(source, export)
            if appendable(source):
                append_rows(path, source, rows)
            else:
                write_parquet(path, source, rows)
            before = self.files[path].rows if path in self.files else 0
            self.files[path] = LandingFile(source, export, before + len(rows))
            start = end

    def copy(self, path: Path, target: Path) -> None:
        """Deliver a file again, byte for byte, under another name (maybe in a day with no other file of its source)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        self.files[target] = self.files[path]
