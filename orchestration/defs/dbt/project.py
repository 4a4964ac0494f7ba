"""The dbt project, in its own module so the manifest can be prepared before the definitions import."""

from __future__ import annotations

import os
import shutil
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.defs.resources import scoped_environment

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"


def dbt_executable() -> str:
    """The dbt installed next to this Python (a venv's bin is not always on PATH, e.g. under `dagster dev`)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


@cache
def dbt_project() -> DbtProject:
    """dagster-dbt's pattern: under `dagster dev` the manifest is parsed again on every load (prepare_if_dev); a
    deployment prepares it once (`make parse`, or `dagster-dbt project prepare-and-package`). Where neither has
    happened yet (a fresh clone), it is prepared here, so importing the definitions never needs a step first."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # dagster-dbt's preparer runs the `dbt` on PATH: make it the one beside this Python.
    path = os.pathsep.join([str(Path(dbt_executable()).parent), os.environ.get("PATH", "")])
    with scoped_environment(PATH=path):
        project.prepare_if_dev()
        if not project.manifest_path.exists():
            project.preparer.prepare(project)
    return project
