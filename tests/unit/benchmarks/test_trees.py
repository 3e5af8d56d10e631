"""`benchmarks/trees.py`, which backs the table that keeps the hand-written tree compiler, run
end to end on a small LightGBM model with linear leaves: it had broken silently when the
exported model's last step became the conformal regressor."""

import subprocess
import sys
from pathlib import Path

from serving_fixtures import synthetic_movies, write_model_dir

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def test_trees_exports_the_model_and_measures_the_compiled_trees_exact(tmp_path):
    models = write_model_dir(
        tmp_path / "models", family="lightgbm", n_estimators=20, num_leaves=4, linear_tree=True
    )
    test = tmp_path / "test.csv"
    synthetic_movies(40, seed=3).to_csv(test, index=False)
    out = tmp_path / "trees"
    script = [sys.executable, str(BENCHMARKS / "trees.py")]
    exported = subprocess.run(
        [*script, "export", "--out", str(out), "--models", str(models), "--test", str(test)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert (out / "model.txt").is_file() and "40 rows" in exported.stdout
    measured = subprocess.run(
        [*script, "measure", "--out", str(out)], capture_output=True, text=True, check=False
    )
    assert measured.returncode == 0, measured.stderr
    lines = {line.split(":")[0]: line for line in measured.stdout.splitlines()}
    assert "rows/s (1 / 2 threads)" in lines["LightGBM predict"]
    assert lines["compiled trees (llvmlite)"].endswith("max |diff| vs LightGBM 0")
