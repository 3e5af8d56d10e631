"""The stage scripts as DVC runs them: `python stages/<name>.py ...` in a subprocess."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import joblib
import pandas as pd
import pytest
import yaml

from movie_rating.artifact import CARD_FILE, load_model
from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import PROCESSED_COLUMNS, TARGET
from movie_rating.features.pipelines import build_feature_pipeline

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_stage(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "stages" / f"{name}.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def write_params(tmp_path: Path, repo_params: dict, **sections: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(repo_params | sections), encoding="utf-8")
    return path


def test_ingest_checksum_mismatch(dirty_csv, tmp_path, repo_params):
    out = tmp_path / "raw" / "movies.csv"
    result = run_stage("ingest", "--params", REPO_ROOT / "params.yaml", "--source", dirty_csv,
                       "--out", out)  # fmt: skip
    line = assert_one_line_error(result)
    assert str(dirty_csv) in line
    assert sha256_of(dirty_csv) in line
    assert repo_params["ingest"]["sha256"] in line
    assert not out.exists()


def test_ingest_missing_file(tmp_path):
    missing = tmp_path / "absent.csv"
    result = run_stage("ingest", "--params", REPO_ROOT / "params.yaml", "--source", missing,
                       "--out", tmp_path / "raw.csv")  # fmt: skip
    assert str(missing) in assert_one_line_error(result)


def test_ingest_accepts_the_recorded_file(dirty_csv, tmp_path, repo_params):
    ingest = dict(repo_params["ingest"], sha256=sha256_of(dirty_csv))
    params = write_params(tmp_path, repo_params, ingest=ingest)
    out = tmp_path / "raw" / "movies.csv"
    result = run_stage("ingest", "--params", params, "--source", dirty_csv, "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == dirty_csv.read_bytes()


def test_unknown_params_key_is_one_line_error(dirty_csv, tmp_path, repo_params):
    params = write_params(tmp_path, repo_params, ingest=dict(repo_params["ingest"], mirror="x"))
    result = run_stage("ingest", "--params", params, "--source", dirty_csv,
                       "--out", tmp_path / "raw.csv")  # fmt: skip
    assert "ingest.mirror" in assert_one_line_error(result)


def test_clean_stage_writes_quarantine_and_report(dirty_csv, dirty_expected, tmp_path):
    out = tmp_path / "out"
    result = run_stage(
        "clean",
        "--params", REPO_ROOT / "params.yaml",
        "--raw", dirty_csv,
        "--train", out / "train.csv",
        "--test", out / "test.csv",
        "--quarantine", out / "quarantine.csv",
        "--report", out / "data_quality.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    quarantine = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert "reason" in quarantine.columns
    assert quarantine["reason"].str.len().gt(0).all()
    assert dict(zip(quarantine["record_id"].astype(int), quarantine["reason"], strict=True)) == (
        dirty_expected.quarantined
    )

    report = json.loads((out / "data_quality.json").read_text(encoding="utf-8"))
    assert report["records_in"] == dirty_expected.records_in
    assert report["records_in"] == report["clean"] + report["quarantined"]
    assert report["quarantined"] == len(quarantine)
    assert sum(report["quarantined_by_reason"].values()) == report["quarantined"]
    assert report["quarantined_by_reason"] == dict(Counter(quarantine["reason"]))
    assert report["train"] + report["test"] == report["clean"]

    train = pd.read_csv(out / "train.csv")
    test = pd.read_csv(out / "test.csv")
    assert (len(train), len(test)) == (report["train"], report["test"])
    assert set(train["record_id"]) | set(test["record_id"]) == dirty_expected.clean_ids


def test_export_writes_the_model_it_is_given_and_its_card_beside_it(
    movie_factory, repo_params, tmp_path
):
    train, test = movie_factory(80, seed=1), movie_factory(20, seed=2)
    for name, frame in (("train", train), ("test", test)):
        frame.loc[:, list(PROCESSED_COLUMNS)].to_csv(tmp_path / f"{name}.csv", index=False)
    features = tmp_path / "features"
    features.mkdir()
    joblib.dump(
        build_feature_pipeline("v1_original", repo_params["featurize"]),
        features / "v1_original.joblib",
    )
    winner = {"pipeline": "v1_original", "family": "ridge", "cv_rmse_mean": 0.8,
              "cv_rmse_std": 0.1, "cv_r2_mean": 0.2}  # fmt: skip
    (tmp_path / "winner.json").write_text(json.dumps(winner), encoding="utf-8")
    (tmp_path / "hyperparameters.json").write_text(json.dumps({"alpha": 3.0}), encoding="utf-8")
    # the backtest's outputs (one cut) and evaluate's error by vote count, for the cards
    cut = {"cut_year": 2019, "all_films": 20, "rated_films": 12}
    for name in ("winner", "seed_design", "baseline"):
        for subset in ("all", "rated"):
            cut |= {
                f"{name}_{subset}_{m}": v for m, v in (("rmse", 0.9), ("r2", 0.1), ("bias", -0.2))
            }
    for subset in ("all", "rated"):
        cut |= {f"winner_{subset}_coverage": 0.77, f"winner_{subset}_mean_width": 1.9}
    pd.DataFrame([cut]).to_csv(tmp_path / "backtest.csv", index=False)
    backtest = {"winner": {"rmse": 0.9, "r2": 0.1}, "baseline": {"rmse": 1.0}}
    (tmp_path / "backtest.json").write_text(json.dumps(backtest), encoding="utf-8")
    pd.DataFrame({"votes": ["0-9"], "movies": [3], "rmse": [2.0], "mae": [1.5]}).to_csv(
        tmp_path / "by_votes.csv", index=False
    )
    model = tmp_path / "out" / "exported_model.joblib"
    readable = tmp_path / "out" / "MODEL_CARD.md"
    args = [
        "--params", REPO_ROOT / "params.yaml",
        "--winner", tmp_path / "winner.json",
        "--winner-hyperparameters", tmp_path / "hyperparameters.json",
        "--features-dir", features,
        "--train", tmp_path / "train.csv",
        "--test", tmp_path / "test.csv",
        "--importance", tmp_path / "importance.csv",
        "--backtest", tmp_path / "backtest.csv",
        "--backtest-metrics", tmp_path / "backtest.json",
        "--error-by-votes", tmp_path / "by_votes.csv",
        "--readable-card", readable,
        "--intervals-table", tmp_path / "intervals.csv",
        "--intervals-metrics", tmp_path / "intervals.json",
    ]  # fmt: skip

    old = run_stage("export", *args, "--models-dir", tmp_path / "out")
    assert old.returncode == 2 and "--model" in old.stderr  # the argument is the file now

    result = run_stage("export", *args, "--model", model)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in model.parent.iterdir()) == sorted(
        [CARD_FILE, model.name, readable.name]
    )
    fitted, card = load_model(model.parent)
    assert (card.name, card.artifact.path) == (model.stem, model.name)
    assert (card.feature_pipeline, card.model_family) == ("v1_original", "ridge")
    assert card.hyperparameters == {"alpha": 3.0}
    assert card.training_data.rows == len(train)
    assert card.metrics["cv_rmse_mean"] == 0.8
    assert fitted.predict(test).shape == (len(test),)
    assert fitted[-1].estimator_.alpha == 3.0
    assert card.intervals is not None and card.intervals.backtest_coverage == 0.77
    coverage = json.loads((tmp_path / "intervals.json").read_text(encoding="utf-8"))
    assert coverage["test"] == card.intervals.test.model_dump()
    assert card.explanation_baseline is not None
    assert card.backtest is not None
    assert (card.backtest.r2, card.backtest.baseline_rmse) == (0.1, 1.0)
    assert card.artifact.sha256 in readable.read_text(encoding="utf-8")
    assert card.target == TARGET
    assert (tmp_path / "importance.csv").is_file()
