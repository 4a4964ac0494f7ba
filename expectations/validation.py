"""Validate DataFrames against a suite in an ephemeral GX context, and write the reports.

`validate(df, suite)` for one batch: the one-row profiles of the raw and mart gates (expectations.raw_profile,
expectations.mart_integrity), whose counts DuckDB computed, or rows; each `mostly` is judged on the counts, with the
project's allowance (a few unexpected values tolerated whatever the rate: RawThresholds).
`build_data_docs(results, folder)` writes one GX Data Docs page per suite, a JSON summary and an index.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

log = logging.getLogger(__name__)

SAMPLE_COUNT = 5


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold, in the words the person on call needs."""

    rule: str
    expectation: str
    column: str | None
    observed: str
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    allowed_percent: float | None = None
    observed_value: Any = None
    samples: list[Any] = field(default_factory=list)
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass
class QualityResult:
    """The outcome of validating one batch against one suite."""

    suite_name: str
    success: bool
    rows: int
    evaluated: int
    failures: list[FailedExpectation]
    validated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    gx_result: Any = field(default=None, repr=False, compare=False)

    @property
    def failed_rules(self) -> list[str]:
        return [f.rule for f in self.failures]

    def failure(self, rule: str, column: str | None = None) -> FailedExpectation | None:
        """The first failure of `rule` (on `column`, if given), or None."""
        return next((f for f in self.failures if f.rule == rule and (column is None or f.column == column)), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite_name, "success": self.success, "rows": self.rows, "evaluated": self.evaluated,
            "failed": len(self.failures), "validated_at": self.validated_at,
            "failures": [f.as_dict() for f in self.failures],
        }

    def markdown(self) -> str:
        """A short report: verdict, then one table row per failed expectation."""
        verdict = "passed" if self.success else "FAILED"
        lines = [f"**{self.suite_name}** {verdict}: {self.evaluated - len(self.failures)}/{self.evaluated} "
                 f"expectations held on {self.rows:,} rows."]
        if self.failures:
            lines += ["", "| rule | column | observed | samples |", "|---|---|---|---|"]
            for f in self.failures:
                samples = ", ".join(_short(s) for s in f.samples) or "-"
                lines.append(f"| {f.rule} | {f.column or '-'} | {_cell(f.observed)} | {_cell(samples)} |")
        return "\n".join(lines)


def jsonable(value: Any) -> Any:
    """Values GX returns (numpy scalars, Timestamps, NaN, tuples) as plain JSON values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _context() -> Any:
    """An ephemeral context: in-memory stores, no Data Docs site (we render pages ourselves), no progress bars."""
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _columns_of(config: Any) -> list[str]:
    meta = config.meta or {}
    return list(meta.get("columns") or ([meta["column"]] if meta.get("column") else []))


def _runnable(suite: gx.ExpectationSuite, columns: Iterable[str]) -> gx.ExpectationSuite:
    """The suite without the expectations about required columns the batch lacks (their absence is the failure)."""
    present = set(columns)
    missing = {
        e.column for e in suite.expectations
        if (e.meta or {}).get("rule") == "column_present" and e.column not in present
    }
    if not missing:
        return suite
    keep = [e for e in suite.expectations
            if (e.meta or {}).get("rule") == "column_present" or not missing & set(_columns_of(e))]
    return gx.ExpectationSuite(name=suite.name, meta=dict(suite.meta), expectations=[e.copy() for e in keep])


def _identity(config: Any) -> str:
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return config.type + json.dumps(kwargs, sort_keys=True, default=str)


@dataclass
class _Tally:
    """One expectation's result, and the project's verdict on it (merged_success)."""

    config: Any
    is_map: bool = False
    success: bool = True
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    observed_value: Any = None
    samples: list[Any] = field(default_factory=list)
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    results: list[Any] = field(default_factory=list)

    def add(self, result: Any, batch: pd.DataFrame, row_columns: Sequence[str], sample_count: int) -> None:
        self.results.append(result)
        self.success = self.success and bool(result.success)
        info = result.exception_info or {}
        errors = [info] if "raised_exception" in info else list(info.values())
        for e in errors:
            if isinstance(e, Mapping) and e.get("raised_exception") and not self.error:
                self.error = str(e.get("exception_message"))
        r = result.result or {}
        if "unexpected_count" in r and "element_count" in r:
            self.is_map = True
            self.element_count += int(r.get("element_count") or 0)
            self.missing_count += int(r.get("missing_count") or 0)
            self.unexpected_count += int(r.get("unexpected_count") or 0)
            room = sample_count - len(self.samples)
            self.samples += [jsonable(v) for v in (r.get("partial_unexpected_list") or [])[:room]]
            for index in (r.get("partial_unexpected_index_list") or [])[: sample_count - len(self.sample_rows)]:
                if isinstance(index, int | float) and 0 <= int(index) < len(batch):
                    row = batch.iloc[int(index)]
                    self.sample_rows.append({c: jsonable(row[c]) for c in row_columns if c in batch.columns})
        elif "observed_value" in r:
            self.observed_value = jsonable(r["observed_value"])

    @property
    def mostly(self) -> float:
        return float(self.config.kwargs.get("mostly") or 1.0)

    @property
    def allowance(self) -> int:
        """Unexpected values tolerated whatever the rate (meta "allowance"; see RawThresholds)."""
        return int((self.config.meta or {}).get("allowance") or 0)

    def merged_success(self) -> bool:
        """GX's verdict, recomputed on the totals: the rate within `mostly`, or no more than `allowance` values."""
        if self.error or not self.is_map:
            return self.success and not self.error
        nonmissing = self.element_count - self.missing_count
        if nonmissing == 0 or self.unexpected_count <= self.allowance:
            return True
        return (1 - self.unexpected_count / nonmissing) >= self.mostly - 1e-12

    def failure(self) -> FailedExpectation:
        meta = self.config.meta or {}
        column = meta.get("column") or self.config.kwargs.get("column")
        rule_name = meta.get("rule") or self.config.type
        if self.error:
            return FailedExpectation(rule_name, self.config.type, column, f"could not be evaluated: {self.error}",
                                     error=self.error)
        if not self.is_map:
            observed = "column missing" if self.config.type == "expect_column_to_exist" else (
                f"observed {json.dumps(self.observed_value, default=str)}")
            return FailedExpectation(rule_name, self.config.type, column, observed,
                                     observed_value=self.observed_value)
        nonmissing = self.element_count - self.missing_count
        percent = 100.0 * self.unexpected_count / nonmissing if nonmissing else 0.0
        allowed = round(100.0 * (1 - self.mostly), 4)
        slack = f" (or up to {self.allowance})" if self.allowance else ""
        observed = (f"{self.unexpected_count:,} of {nonmissing:,} non-null values ({percent:.2f}%) unexpected; "
                    f"allowed {allowed:g}%{slack}")
        return FailedExpectation(
            rule_name, self.config.type, column, observed, unexpected_count=self.unexpected_count,
            unexpected_percent=round(percent, 4), allowed_percent=allowed, observed_value=round(percent, 4),
            samples=self.samples, sample_rows=self.sample_rows,
        )

    def patch_gx_result(self) -> None:
        """Make GX's result tell our verdict (the Data Docs page renders it)."""
        self.results[0].success = self.merged_success()


def blank_as_null(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank text (only whitespace) as null, as staging reads it: an empty field and a missing one are the same."""
    for column in frame.columns:
        if frame[column].dtype == object:
            text = frame[column]
            frame[column] = text.mask(text.map(lambda v: isinstance(v, str) and not v.strip()))
    return frame


def validate(df: pd.DataFrame, suite: gx.ExpectationSuite, sample_count: int = SAMPLE_COUNT) -> QualityResult:
    """Validate one DataFrame (a profile, or rows) against `suite` in an ephemeral context."""
    meta = suite.meta or {}
    row_columns = [*meta.get("lineage", []), *meta.get("key", [])]
    tallies: dict[str, _Tally] = {_identity(e.configuration): _Tally(e.configuration) for e in suite.expectations}
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": sample_count}
    context = _context()
    batch_definition = (context.data_sources.add_pandas("quality").add_dataframe_asset("batch")
                        .add_batch_definition_whole_dataframe("whole"))
    batch = blank_as_null(df)
    gx_result = batch_definition.get_batch(batch_parameters={"dataframe": batch}).validate(
        _runnable(suite, batch.columns), result_format=result_format)
    for r in gx_result.results:
        config = r.expectation_config
        tally = tallies.setdefault(_identity(config), _Tally(config))
        columns = [c for c in [*_columns_of(config), config.kwargs.get("column")] if c]
        tally.add(r, batch, list(dict.fromkeys([*row_columns, *columns])), sample_count)
    evaluated = [t for t in tallies.values() if t.results]
    failures = [t.failure() for t in evaluated if not t.merged_success()]
    for t in evaluated:
        t.patch_gx_result()
    for r in gx_result.results:  # GX's page renderer reads numpy 2 scalars' repr ("np.float64(0.5)") as text
        observed = (r.result or {}).get("observed_value")
        if hasattr(observed, "item"):
            r.result["observed_value"] = observed.item()
    gx_result.success = not failures
    held = sum(1 for t in evaluated if t.merged_success())
    gx_result.statistics.update({
        "evaluated_expectations": len(evaluated), "successful_expectations": held,
        "unsuccessful_expectations": len(evaluated) - held,
        "success_percent": 100.0 * held / len(evaluated) if evaluated else 100.0,
    })
    return QualityResult(suite_name=suite.name, success=not failures, rows=len(df), evaluated=len(evaluated),
                         failures=failures, gx_result=gx_result)


def _write(path: Path, text: str) -> None:
    """Write atomically: a reader (or a parallel check) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def page_name(suite_name: str) -> str:
    """The file name of a suite's page in the reports folder (raw.orders -> raw.orders.html)."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in suite_name) + ".html"


# GX's page template fetches Bootstrap, jQuery, Font Awesome, Vega and its logo from CDNs. The pages are read
# offline (an on-call laptop, a CI artifact), so the styling they need is copied once into <reports>/static from
# the XStatic packages (Bootstrap 4, the major version the template is written for) and from GX itself, and every
# remote <link>/<script> is replaced by the local files. The validation pages draw no Vega charts.
STATIC = "static"
_REMOTE_TAG = re.compile(r"""<link[^>]*href=["']https?://[^>]*>|<script[^>]*src=["']https?://[^>]*>\s*</script>""",
                         re.IGNORECASE)
_REMOTE_LOGO = re.compile(r"https://great-expectations-web-assets[^'\"\)]*")
_LOCAL_ASSETS = (f'<link rel="stylesheet" href="{STATIC}/bootstrap.min.css">'
                 f'<link rel="stylesheet" href="{STATIC}/fontawesome/css/all.min.css">'
                 f'<script src="{STATIC}/jquery.min.js"></script>'
                 f'<script src="{STATIC}/bootstrap.bundle.min.js"></script>')


def static_files() -> dict[str, Path]:
    """What the offline pages load, by their path under <reports>/static."""
    import great_expectations.render.view as gx_view
    from xstatic.pkg import bootstrap, font_awesome, jquery

    images = Path(gx_view.__file__).parent / "static" / "images"
    files = {"bootstrap.min.css": Path(bootstrap.BASE_DIR) / "css" / "bootstrap.min.css",
             "bootstrap.bundle.min.js": Path(bootstrap.BASE_DIR) / "js" / "bootstrap.bundle.min.js",
             "jquery.min.js": Path(jquery.BASE_DIR) / "jquery.min.js",
             "fontawesome/css/all.min.css": Path(font_awesome.BASE_DIR) / "css" / "all.min.css",
             "logo-long.png": images / "logo-long.png", "favicon.ico": images / "favicon.ico"}
    for font in (Path(font_awesome.BASE_DIR) / "webfonts").iterdir():
        files[f"fontawesome/webfonts/{font.name}"] = font
    return files


def write_static(folder: Path) -> None:
    """Copy the pages' styling into <folder>/static (once; a file already there of the same size is kept)."""
    for name, source in static_files().items():
        target = folder / STATIC / name
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)


def offline_page(page: str) -> str:
    """A GX Data Docs page that loads nothing from the network: local styling, logo and favicon, and its "home"
    link pointing at this folder's index."""
    page = _REMOTE_TAG.sub("", page)
    page = _REMOTE_LOGO.sub(f"{STATIC}/logo-long.png", page)
    page = re.sub(r"(?:\.\./)+static/images/favicon\.ico", f"{STATIC}/favicon.ico", page)
    page = re.sub(r"(?:\.\./)+index\.html", "index.html", page)
    return page.replace("</head>", _LOCAL_ASSETS + "</head>", 1)


def _plain(gx_result: Any) -> Any:
    """The GX result with numpy scalars as Python numbers, in place: GX's renderers format numbers from their repr,
    which numpy 2 writes as `np.float64(0.0)` (num_to_str then raises "invalid value")."""
    import numpy as np

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            for key in list(value):
                value[key] = plain(value[key])
            return value
        if isinstance(value, list | tuple):
            return type(value)(plain(v) for v in value)
        return value

    plain(gx_result.statistics)
    for r in gx_result.results:
        plain(r.result)
        plain(r.expectation_config.kwargs)
    return gx_result


@functools.cache
def _page_renderer() -> tuple[Any, Any]:
    """GX's validation page renderer and its Jinja view, made once per process: a new view builds its Jinja
    environment and compiles its templates again (0.1 s of the 0.15 s a page takes; a run writes about 18 pages).
    The pages are the same either way, but for the random ids GX gives its collapsible sections."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    return ValidationResultsPageRenderer(), DefaultJinjaPageView()


def _render_page(result: QualityResult) -> str:
    """GX's own validation page (offline); a plain page when GX cannot render (e.g. nothing was validated)."""
    if result.gx_result is not None:
        try:
            renderer, view = _page_renderer()
            return offline_page(view.render(renderer.render(_plain(result.gx_result))))
        except Exception:  # a report must never fail the gate it reports on
            log.warning("GX could not render %s; writing a plain page", result.suite_name, exc_info=True)
    body = html.escape(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    return f"<!doctype html><title>{html.escape(result.suite_name)}</title><pre>{body}</pre>"


def _index(summaries: list[dict[str, Any]]) -> str:
    rows = []
    for s in summaries:
        status = "passed" if s["success"] else "FAILED"
        failed = "; ".join(f"{f['rule']} ({f.get('column') or '-'}): {f['observed']}" for f in s["failures"])
        rows.append(
            f"<tr><td><a href=\"{html.escape(s['page'])}\">{html.escape(s['suite'])}</a></td>"
            f"<td class=\"{status.lower()}\">{status}</td><td>{s['rows']:,}</td>"
            f"<td>{s['evaluated'] - s['failed']}/{s['evaluated']}</td><td>{html.escape(failed)}</td>"
            f"<td>{html.escape(s['validated_at'])}</td></tr>"
        )
    return (
        "<!doctype html><meta charset=\"utf-8\"><title>Data quality reports</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;vertical-align:top}"
        "table{border-collapse:collapse}.failed{color:#b00;font-weight:bold}.passed{color:#070}</style>"
        "<h1>Data quality reports</h1><table><tr><th>suite</th><th>status</th><th>rows</th>"
        "<th>expectations held</th><th>failed expectations</th><th>validated at (UTC)</th></tr>"
        + "".join(rows) + "</table>"
    )


def build_data_docs(results: Iterable[QualityResult], folder: Path) -> Path:
    """Write `<suite>.html` (GX Data Docs page) and `<suite>.json` per result, then rebuild index.html and
    summary.md from every JSON summary in the folder (so checks that run separately share one index)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_static(folder)
    for result in results:
        page = page_name(result.suite_name)
        _write(folder / page, _render_page(result))
        _write(folder / page.replace(".html", ".json"),
               json.dumps({**result.as_dict(), "page": page}, indent=2, ensure_ascii=False))
    summaries = []
    for path in sorted(folder.glob("*.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and {"suite", "success", "failures", "page"} <= summary.keys():
            summaries.append(summary)
    _write(folder / "index.html", _index(summaries))
    _write(folder / "summary.md", "# Data quality\n\n" + "\n\n".join(
        QualityResult(s["suite"], s["success"], s["rows"], s["evaluated"],
                      [FailedExpectation(**f) for f in s["failures"]], s["validated_at"]).markdown()
        for s in summaries) + "\n")
    return folder / "index.html"
