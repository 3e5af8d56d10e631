"""Both notebooks run headless, top to bottom, on the real pipeline outputs.

The git-tracked outputs (reports/, metrics/, models/model_card.json) are always present; the
DVC-cached ones the EDA reads (raw copy, clean split, quarantine) are not on a fresh clone, so
the fixture rebuilds them with `dvc repro clean` (ingest + clean, ~10 s) when missing.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
KERNEL = "python3"


def dvc_paths() -> dict[str, str]:
    variables = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["vars"]
    return next(v["paths"] for v in variables if isinstance(v, dict) and "paths" in v)


@pytest.fixture(scope="module")
def kernel_env(monkeypatch_module) -> None:
    """The kernel is this venv's python (its kernelspec runs `python` from PATH), drawing Agg."""
    venv_bin = str(Path(sys.executable).parent)
    monkeypatch_module.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch_module.setenv("MPLBACKEND", "Agg")
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    resolved = shutil.which(spec.argv[0])
    assert resolved is not None
    assert Path(resolved).resolve() == Path(sys.executable).resolve(), (
        f"kernel {KERNEL!r} would run {resolved}, not this venv's {sys.executable}"
    )


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def pipeline_data() -> None:
    paths = dvc_paths()
    needed = [REPO_ROOT / paths[key] for key in ("raw", "train", "test", "quarantine")]
    if all(path.is_file() for path in needed):
        return
    if not (REPO_ROOT / paths["source"]).is_file():
        pytest.skip(f"raw data not found at {paths['source']}; cannot rebuild the clean split")
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "clean"],
        cwd=REPO_ROOT, env={**os.environ, "DVC_NO_ANALYTICS": "1"}, capture_output=True,
        text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(path.is_file() for path in needed)


def execute(path: Path, cwd: Path) -> list[str]:
    """Run every cell in a fresh kernel with `cwd` as working directory; return printed text."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return [
        output["text"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    ]


def findings(printed: list[str]) -> list[str]:
    return [line for text in printed for line in text.splitlines() if line.startswith("Finding:")]


def test_eda_notebook_runs_with_one_finding_per_topic(kernel_env, pipeline_data):
    printed = execute(NOTEBOOKS / "01_eda.ipynb", REPO_ROOT)
    lines = findings(printed)
    # data quality, target, zero-vote films, votes, genres, languages, years, overviews, missing
    assert len(lines) == 9, lines
    assert any("too few votes" in line for line in lines)


def test_experiments_notebook_runs_on_the_committed_reports(kernel_env):
    printed = execute(NOTEBOOKS / "02_experiments.ipynb", REPO_ROOT)
    text = "".join(printed)
    assert "match the comparison table:" in text  # False only while outputs are stale
    tuning_dir = REPO_ROOT / dvc_paths().get("tuning", "reports/tuning")
    if not any(tuning_dir.glob("*.json")):
        assert "tuning history skipped" in text
    assert len(findings(printed)) >= 5


def test_experiments_notebook_shows_a_tuning_history(kernel_env, tmp_path):
    """The tuning section on a copy of the reports plus a tune-stage report it has not seen."""
    shutil.copy(REPO_ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    for tracked in ("reports", "metrics"):
        shutil.copytree(REPO_ROOT / tracked, tmp_path / tracked)
    tuning_dir = tmp_path / dvc_paths().get("tuning", "reports/tuning")
    tuning_dir.mkdir(parents=True, exist_ok=True)
    trials = [
        {"number": n, "params": {"num_leaves": 7 + 8 * n}, "cv_rmse": score, "state": "complete"}
        for n, score in enumerate([0.82, 0.81, 0.815, 0.805])
    ] + [{"number": 4, "params": {"num_leaves": 63}, "cv_rmse": None, "state": "pruned"}]
    report = {
        "pipeline": "v1_original",
        "family": "lightgbm",
        "method": "optuna",
        "hyperparameters": {"num_leaves": 31},
        "search_cv_rmse_untuned": 0.83,
        "search_cv_rmse_tuned": 0.805,
        "trials": trials,
    }
    (tuning_dir / "v1_original-lightgbm.json").write_text(json.dumps(report), encoding="utf-8")

    lines = findings(execute(NOTEBOOKS / "02_experiments.ipynb", tmp_path))
    tuning = [line for line in lines if "v1_original-lightgbm:" in line]
    assert len(tuning) == 1, lines
    assert "best of 4 trials 0.8050 at trial 3" in tuning[0]
    assert "0.0250 below the untuned" in tuning[0]
