"""The real DVC pipeline on a small sample: repro, no-op repro, status, experiment, metrics.

A copy of dvc.yaml, params.yaml, stages/ and src/movie_rating goes into a fresh git + DVC repo
with a ~400-record sample of the raw file (its checksum recorded in the copied params.yaml)
and a 2 x 2 grid, so the whole DAG runs in well under a minute on two cores.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from movie_rating.artifact import CARD_FILE, read_card
from movie_rating.data.ingest import sha256_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[2]
RAW_DATA = REPO_ROOT.parent / "shared" / "data" / "movies.csv"
SOURCE_IN_DVC_YAML = "source: ../shared/data/movies.csv"
SAMPLE = "sample/movies.csv"
PIPELINES = ["v1_original", "v4_trigrams"]
FAMILIES = ["ridge", "lightgbm"]
CELLS = {f"train@{p}-{f}" for p in PIPELINES for f in FAMILIES}
ALL_STAGES = {"ingest", "clean", *(f"featurize@{p}" for p in PIPELINES), *CELLS, "evaluate",
              "export"}  # fmt: skip
RUNNING = re.compile(r"Running stage '([^']+)'")


def write_sample(path: Path) -> None:
    """The header, the first 400 records, and the real file's unquoted multi-line overview
    (the Pixie Hollow record and its 10 continuation lines), byte for byte."""
    lines = RAW_DATA.read_text(encoding="utf-8").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("2013-10-20,Pixie Hollow"))
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines[:401] + lines[start : start + 11]) + "\n", encoding="utf-8")


class Project:
    def __init__(self, root: Path, pycache: Path) -> None:
        self.root = root
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
            "DVC_NO_ANALYTICS": "1",
            # `python` in dvc.yaml's cmd is this venv's; the stages import the copied package.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(root / "src"),
            # Bytecode goes outside the project, so no .pyc lands in a stage's deps; and it is
            # written, so a dozen stage processes do not each recompile sklearn and pandas.
            "PYTHONPYCACHEPREFIX": str(pycache),
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
        }

    def run(self, *args: str) -> str:
        result = subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=240,
            check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
        return output

    def dvc(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *args)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Project, str]:
    if not RAW_DATA.is_file():
        pytest.skip(f"raw data not found at {RAW_DATA}")
    root = tmp_path_factory.mktemp("dvc_project")
    shutil.copytree(REPO_ROOT / "stages", root / "stages")
    shutil.copytree(
        REPO_ROOT / "src" / "movie_rating",
        root / "src" / "movie_rating",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    write_sample(root / SAMPLE)

    dvc_yaml = (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8")
    assert SOURCE_IN_DVC_YAML in dvc_yaml, "dvc.yaml no longer declares the source path"
    # Without the `render` stage: no notebooks/ here (test_notebooks.py runs them).
    pipeline = yaml.safe_load(dvc_yaml.replace(SOURCE_IN_DVC_YAML, f"source: {SAMPLE}"))
    del pipeline["stages"]["render"]
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"]["sha256"] = sha256_of(root / SAMPLE)
    params["featurize"]["pipelines"] = PIPELINES
    params["train"]["families"] = FAMILIES
    params["train"]["cv_folds"] = 2
    params["models"]["lightgbm"]["n_estimators"] = 30
    params["backtest"]["cut_years"] = [2019]  # one cut: two refits, not twelve
    # Shrink whatever hyper-parameter search the project runs after the grid, if any.
    for key, small in {"n_trials": 2, "cv_folds": 2, "temporal_cut_years": [2019]}.items():
        if key in params.get("tune", {}):
            params["tune"][key] = small
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    project = Project(root, tmp_path_factory.mktemp("pycache"))
    project.run("git", "init", "-q")
    project.dvc("init", "-q")
    project.commit("sample project")
    first = project.dvc("repro")
    project.commit("first repro")
    return project, first


def test_repro_runs_every_stage_and_writes_outputs(project):
    proj, first = project
    declared = set(proj.dvc("stage", "list", "--name-only").split())
    assert declared >= ALL_STAGES
    assert set(RUNNING.findall(first)) == declared
    root = proj.root
    dvc_vars = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["vars"]
    paths = next(v["paths"] for v in dvc_vars if isinstance(v, dict) and "paths" in v)
    for output in (
        paths["model_card"],  # beside the artifact `export --model` writes
        paths["model"],
        "reports/model_comparison.md",
        "reports/winner.json",
        "data/interim/quarantine.csv",
    ):
        assert (root / output).is_file(), output
    model = root / paths["model"]
    card = read_card(model.parent)
    assert model.parent / CARD_FILE == root / paths["model_card"]
    assert (card.name, card.artifact.path) == (model.stem, model.name)
    assert card.artifact.sha256 == sha256_of(model)

    quality = json.loads((root / "reports/data_quality.json").read_text(encoding="utf-8"))
    assert quality["records_in"] == 411
    assert quality["records_in"] == quality["clean"] + quality["quarantined"]
    quarantine = pd.read_csv(root / "data/interim/quarantine.csv", dtype=str)
    # the real file's 10 continuation lines land there, not in the data
    assert (quarantine["Release_Date"].str.startswith(" - ")).sum() == 10

    table = (root / "reports/model_comparison.md").read_text(encoding="utf-8")
    for pipeline in PIPELINES:
        for family in FAMILIES:
            assert f"| {pipeline} | {family} |" in table, (pipeline, family)


def test_second_repro_is_a_no_op_and_status_clean(project):
    proj, _ = project
    again = proj.dvc("repro")
    assert RUNNING.findall(again) == []
    assert "didn't change" in again or "up to date" in again
    assert "Data and pipelines are up to date" in proj.dvc("status")


def test_metrics_show(project):
    proj, _ = project
    shown = proj.dvc("metrics", "show")
    assert "cv_rmse_mean" in shown
    assert "records_in" in shown


def test_lightgbm_param_change_reruns_only_what_depends_on_it(project):
    proj, _ = project
    output = proj.dvc("exp", "run", "-S", "models.lightgbm.learning_rate=0.2")
    rerun = set(RUNNING.findall(output))
    lightgbm_cells = {c for c in CELLS if c.endswith("-lightgbm")}
    upstream = {"ingest", "clean", *(f"featurize@{p}" for p in PIPELINES), *CELLS}
    assert lightgbm_cells <= rerun
    assert "evaluate" in rerun
    # nothing upstream of the grid, and no other family's cell, is recomputed
    assert not rerun & (upstream - lightgbm_cells)
