"""The stage scripts as DVC runs them: `python stages/<name>.py ...` in a subprocess."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from movie_rating.data.ingest import sha256_of

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
