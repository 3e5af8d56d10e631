"""Both notebooks run headless, top to bottom, on the real pipeline outputs, through the same
`render` the pipeline's render stage runs; and a rendering is byte-identical run after run.

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
from nbformat.v4 import new_code_cell, new_notebook

from movie_rating.errors import MovieRatingError
from movie_rating.reporting.notebooks import render

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"


def dvc_paths() -> dict[str, str]:
    variables = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["vars"]
    return next(v["paths"] for v in variables if isinstance(v, dict) and "paths" in v)


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


def execute(path: Path, cwd: Path, out_dir: Path) -> list[str]:
    """Render the notebook into `out_dir`, every cell run with `cwd` as working directory;
    return the printed text."""
    notebook = render(path, out_dir, cwd)
    return [
        output["text"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    ]


def findings(printed: list[str]) -> list[str]:
    return [line for text in printed for line in text.splitlines() if line.startswith("Finding:")]


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}


def assert_is_the_committed_rendering(out_dir: Path, stem: str) -> None:
    """The rendering is the one committed (what `dvc repro render` wrote, here or elsewhere)."""
    committed = REPO_ROOT / dvc_paths()["rendered_notebooks"]
    ours = {name: data for name, data in files(out_dir).items() if name.startswith(stem)}
    theirs = {name: data for name, data in files(committed).items() if name.startswith(stem)}
    assert ours.keys() == theirs.keys(), "stale rendering: run `dvc repro render`"
    changed = sorted(name for name in ours if ours[name] != theirs[name])
    assert not changed, f"stale rendering: run `dvc repro render` ({changed})"


def test_eda_notebook_runs_with_one_finding_per_topic(pipeline_data, tmp_path):
    printed = execute(NOTEBOOKS / "01_eda.ipynb", REPO_ROOT, tmp_path)
    lines = findings(printed)
    # data quality, target, zero-vote films, votes, genres, languages, years, overviews, missing
    assert len(lines) == 9, lines
    assert any("too few votes" in line for line in lines)
    assert_is_the_committed_rendering(tmp_path, "01_eda")


def test_experiments_notebook_runs_on_the_committed_reports(tmp_path):
    printed = execute(NOTEBOOKS / "02_experiments.ipynb", REPO_ROOT, tmp_path)
    text = "".join(printed)
    assert "match the comparison table:" in text  # False only while outputs are stale
    tuning_dir = REPO_ROOT / dvc_paths().get("tuning", "reports/tuning")
    if not any(tuning_dir.glob("*.json")):
        assert "tuning history skipped" in text
    assert len(findings(printed)) >= 5
    assert_is_the_committed_rendering(tmp_path, "02_experiments")


def test_experiments_notebook_shows_a_tuning_history(tmp_path):
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

    lines = findings(execute(NOTEBOOKS / "02_experiments.ipynb", tmp_path, tmp_path / "out"))
    tuning = [line for line in lines if "v1_original-lightgbm:" in line]
    assert len(tuning) == 1, lines
    assert "best of 4 trials 0.8050 at trial 3" in tuning[0]
    assert "0.0250 below the untuned" in tuning[0]


def write_notebook(path: Path, *sources: str) -> Path:
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [new_code_cell(source) for source in sources]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}), path)
    return path


def test_rendering_twice_gives_the_same_bytes(tmp_path):
    """Figures, tables and streams that the kernel flushes in several pieces."""
    notebook = write_notebook(
        tmp_path / "demo.ipynb",
        "import time\nimport matplotlib.pyplot as plt\nimport pandas as pd\n%matplotlib inline",
        "for i in range(3):\n    print(i, flush=True)\n    time.sleep(0.25)\n"
        "plt.plot([1, 3, 2], label='line')\nplt.legend()\nplt.show()\nprint('after')",
        "display(pd.DataFrame({'a': [1.5, 2.25]}))\nplt.hist([1, 2, 2, 3])\nplt.show()",
    )
    render(notebook, tmp_path / "first")
    render(notebook, tmp_path / "second")
    first = files(tmp_path / "first")
    assert sorted(first) == ["demo.md", "demo_files/demo_1_1.png", "demo_files/demo_2_1.png"]
    assert first == files(tmp_path / "second")
    body = first["demo.md"].decode()
    assert "    0\n    1\n    2\n" in body  # one block, however the kernel flushed it
    assert body.index("demo_1_1.png") < body.index("    after")
    assert "<table" in body and "<style" not in body


def test_a_warning_or_a_printed_absolute_path_fails_the_rendering(tmp_path):
    warns = write_notebook(tmp_path / "warns.ipynb", "import warnings\nwarnings.warn('soon')")
    with pytest.raises(MovieRatingError, match=r"warns.ipynb: the output of cell 0 contains"):
        render(warns, tmp_path / "out")
    prints = write_notebook(
        tmp_path / "prints.ipynb", "1 + 1", "from pathlib import Path\nPath.cwd()"
    )
    with pytest.raises(MovieRatingError, match=r"prints.ipynb: the output of cell 1 contains"):
        render(prints, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_kernel_is_reached_over_private_unix_sockets_not_tcp(tmp_path, capfd):
    notebook = write_notebook(
        tmp_path / "kernel.ipynb",
        "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\nprint(app.transport, os.path.isabs(app.ip))",
    )
    render(notebook, tmp_path / "out", tmp_path)
    assert "    ipc True\n" in (tmp_path / "out" / "kernel.md").read_text(encoding="utf-8")
    assert "over TCP" not in capfd.readouterr().err  # ipykernel's warning for a TCP kernel
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kernel.ipynb", "out"]
