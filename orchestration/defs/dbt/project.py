"""The dbt project, in its own module so the manifest can be prepared before the definitions import."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from packaging import version

from orchestration.defs.resources import DBT_BUILD_FILE_ENV, scoped_environment
from orchestration.lib.paths import DEFAULT_WAREHOUSE, build_path_for

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"


def dbt_executable() -> str:
    """The dbt installed next to this Python (a venv's bin is not always on PATH, e.g. under `dagster dev`): this
    project's `journey-dbt` (dbt, reusing its parse state across warehouse folders: orchestration/lib/dbt_cli.py),
    else dbt's own command."""
    for name in ("journey-dbt", "dbt"):
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
    return shutil.which("dbt") or "dbt"


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    """Whether the manifest is missing or older than a file of the dbt project (a model, test, macro, seed or YAML
    changed since it was parsed: after a `git pull`, say). A stale manifest lacks what was added, and the run would
    stop on a node it does not know."""
    if not manifest.exists():
        return True
    parsed_at = manifest.stat().st_mtime
    skip = {project_dir / "target", project_dir / "logs"}
    for folder, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in files:
            if name.endswith((".sql", ".yml", ".yaml", ".csv")) and Path(folder, name).stat().st_mtime > parsed_at:
                return True
    return False


class JourneyPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (`dbt parse` into the project's target folder), through `journey-dbt` and with the
    profile of the default warehouse, as `make parse` does. dagster-dbt's own ran plain `dbt` with no build file
    set: its parse state matched no warehouse, so after every `dagster dev` load (or a parse of a stale manifest)
    each run's dbt parsed the whole project again ("profile has changed", 8-20 s) until the next `make parse`."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        with scoped_environment(**{DBT_BUILD_FILE_ENV: str(build_path_for(DEFAULT_WAREHOUSE))}):
            dbt = JourneyDbtCliResource(project_dir=project, dbt_executable=dbt_executable())
            dbt.cli(self._prepare_project_cli_args, target_path=project.target_path).wait()


@cache
def dbt_project() -> DbtProject:
    """dagster-dbt's pattern: under `dagster dev` the manifest is parsed again on every load (prepare_if_dev); a
    deployment prepares it once (`make parse`, or `dagster-dbt project prepare-and-package`). Where neither has
    happened yet (a fresh clone), or a file of the project changed since (a pull without `make parse`), it is
    prepared here, so importing the definitions never needs a step first."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # (this dagster-dbt's DbtProject takes no preparer of one's own)
    JourneyPreparer().prepare_if_dev(project)  # partial: what changed since the last load
    if manifest_is_stale(DBT_PROJECT_DIR, project.manifest_path):
        parse_in_full(project)
    return project


def parse_in_full(project: DbtProject) -> None:
    """The project's manifest and parse state, parsed in full (`make parse`, and a stale manifest): dbt's partial
    parse of changed files dropped the YAML descriptions of singular tests it parsed again, and `make docs` and its
    coverage check read this manifest (cf. dbt-labs/dbt-core#10801). The parse state it writes is the one every
    warehouse named journey.duckdb starts from."""
    JourneyPreparer(prepare_project_cli_args=["parse", "--quiet", "--no-partial-parse"]).prepare(project)


class JourneyDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without two costs every run paid for nothing (about 2-4 s of a sample run):

    - it asked the dbt executable its version (`dbt --version`, a second Python start that imports dbt): the dbt
      beside this Python is the dbt-core package installed with it, so its version is read from the metadata;
    - it opened a dbt adapter in this process, which dagster-dbt uses only to fetch row counts and column metadata
      (`.fetch_row_counts()`, `.fetch_column_metadata()`), which this project does not ask for."""

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent != Path(sys.executable).parent:
            return super()._cli_version  # some other dbt (on PATH): ask it
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource() -> JourneyDbtCliResource:
    return JourneyDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())


if __name__ == "__main__":  # `make parse`
    parse_in_full(DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR))
