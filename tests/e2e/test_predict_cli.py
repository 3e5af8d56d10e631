"""`python -m movie_rating.predict` as a user runs it: a real subprocess on a tiny real model."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from serving_fixtures import synthetic_movies, write_model_dir

from movie_rating.artifact import CARD_FILE
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import MovieInput

pytestmark = pytest.mark.e2e

HEADER = ["record_id", "title", "overview", "genre", "original_language", "release_date"]
ROWS = [
    ["1", "Good One", "a detective story", "Drama, History", "en", "2020-01-01"],
    ["2", "Bad Date", "x", "Drama", "en", "0000-13-45"],
    ["3", "", "no title", "Drama", "en", "2020-01-01"],
    ["4", "Good Two", "", "", "fr", "1999-05-05"],
    ["5", "Loud Lang", "x", "", "ENG", "1999-05-05"],
    ["6", "Multi\nline", "quoted, with commas", "Comedy", "ja", "1985-03-03"],
    ["7", "Future", "x", "", "en", "2099-01-01"],
]
BAD = {2: "release_date", 3: "title", 5: "original_language", 7: "release_date"}


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "movie_rating.predict", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bad_rows_are_reported_and_good_rows_rated(e2e_models_dir, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out" / "rated.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *ROWS])
    result = run_cli("--models-dir", e2e_models_dir, "--csv", source, "--out", out, cwd=tmp_path)

    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    for number, field in BAD.items():
        assert any(
            line.startswith(f"row {number} ") and f"{field}:" in line
            for line in result.stderr.splitlines()
        ), result.stderr
    assert "7 rows: 3 rated, 4 invalid" in result.stderr

    with out.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [row["record_id"] for row in written] == [row[0] for row in ROWS]  # none dropped
    for row in written:
        number = int(row["record_id"])
        if number in BAD:
            assert row["predicted_rating"] == ""
            assert row["error"].startswith(f"{BAD[number]}:")
        else:
            assert row["error"] == ""
            assert 0.0 <= float(row["predicted_rating"]) <= 10.0

    predictor = ProductionPredictor(e2e_models_dir).load()
    good = [r for r in written if not r["error"]]
    expected = predictor.predict_many(
        [MovieInput.model_validate({k: r[k] for k in HEADER[1:]}) for r in good]
    )
    np.testing.assert_allclose([float(r["predicted_rating"]) for r in good], expected, atol=1e-4)


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "movie_rating.predict"],
        [str(Path(sys.executable).parent / "movie-rating"), "predict"],  # the console command
    ],
)
def test_single_movie_prints_its_rating(e2e_models_dir, tmp_path, command):
    args = ["--title", "Oppenheimer", "--overview", "A bomb.", "--genre", "Drama, History",
            "--original-language", "en", "--release-date", "2023-07-21"]  # fmt: skip
    result = subprocess.run(
        [*command, "--models-dir", str(e2e_models_dir), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet: the rating on stdout, nothing else
    predictor = ProductionPredictor(e2e_models_dir).load()
    movie = MovieInput(
        title="Oppenheimer",
        overview="A bomb.",
        genre="Drama, History",
        original_language="en",
        release_date="2023-07-21",
    )
    assert float(result.stdout.splitlines()[0]) == pytest.approx(
        predictor.predict_one(movie), abs=1e-4
    )


def test_errors_are_one_line_without_traceback(e2e_models_dir, tmp_path):
    movie = ["--title", "X", "--original-language", "en", "--release-date"]
    for models_dir, date, message in (
        (e2e_models_dir, "2023-13-01", "release_date"),
        (tmp_path, "2023-12-01", f"no {CARD_FILE}"),
        # the movie is checked before the model is looked for
        (tmp_path, "2023-13-01", "release_date"),
    ):
        result = run_cli("--models-dir", models_dir, *movie, date, cwd=tmp_path)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0], result.stderr


def test_an_output_that_cannot_be_written_is_one_line_and_leaves_nothing(e2e_models_dir, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n", encoding="utf-8")
    for out in (source / "out.csv", tmp_path / "taken.csv"):  # under a file; onto a folder
        (tmp_path / "taken.csv").mkdir(exist_ok=True)
        args = ("--models-dir", e2e_models_dir, "--input", source, "--out", out)
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(f"error: cannot write {out.name}: ")
        assert str(tmp_path) not in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "taken.csv"]
    assert list((tmp_path / "taken.csv").iterdir()) == []


def test_a_file_and_one_movie_together_are_refused(e2e_models_dir, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n", encoding="utf-8")
    both = ["--input", source, "--out", tmp_path / "o.csv", "--title", "X", "--genre", "Drama"]
    result = run_cli("--models-dir", e2e_models_dir, *both, cwd=tmp_path)
    assert result.returncode == 2 and "--title --genre one movie" in result.stderr
    result = run_cli("--models-dir", e2e_models_dir, "--title", "X", "--out", "o.csv", cwd=tmp_path)
    assert result.returncode == 2 and "--out needs --input" in result.stderr
    assert not (tmp_path / "o.csv").exists()


@pytest.fixture(scope="module")
def lightgbm_models_dir(tmp_path_factory):
    return write_model_dir(tmp_path_factory.mktemp("lightgbm"), family="lightgbm", n_estimators=20)


def test_require_fast_path_fails_unless_the_trees_are_compiled(
    e2e_models_dir, lightgbm_models_dir, tmp_path
):
    args = ["--require-fast-path", "--title", "X", "--original-language", "en",
            "--release-date", "2020-01-01"]  # fmt: skip
    slow = run_cli("--models-dir", e2e_models_dir, *args, cwd=tmp_path)
    assert slow.returncode == 1 and slow.stdout == ""
    assert "Traceback" not in slow.stderr
    reason = ProductionPredictor(e2e_models_dir).load().path_reason
    assert f"error: the model is not on the fast path: {reason}" in slow.stderr.splitlines()
    fast = run_cli("--models-dir", lightgbm_models_dir, *args, "--verbose", cwd=tmp_path)
    assert fast.returncode == 0, fast.stderr
    assert "INFO movie_rating.serving.predict: model loaded" in fast.stderr.splitlines()
    predictor = ProductionPredictor(lightgbm_models_dir).load()
    assert predictor.path == "compiled"
    movie = MovieInput(title="X", original_language="en", release_date="2020-01-01")
    assert float(fast.stdout.splitlines()[0]) == pytest.approx(
        predictor.predict_one(movie), abs=1e-4
    )


def test_intervals_and_explanations_one_movie_and_in_a_csv(e2e_models_dir, tmp_path):
    movie = ["--title", "Oppenheimer", "--original-language", "en", "--release-date", "2023-07-21"]
    one = run_cli(
        "--models-dir", e2e_models_dir, *movie, "--level", "0.9", "--explain", cwd=tmp_path
    )
    assert one.returncode == 0, one.stderr
    rating, interval, baseline, *parts = one.stdout.splitlines()
    low, high = (float(word) for word in interval.removeprefix("90% interval: ").split(" to "))
    assert low <= float(rating) <= high
    contributions = {line.split(":")[0].strip(): float(line.split(":")[1]) for line in parts}
    assert set(contributions) == set(HEADER[1:])
    total = float(baseline.removeprefix("baseline movie: ")) + sum(contributions.values())
    assert total == pytest.approx(float(rating), abs=1e-3)  # (printed to 4 decimals)

    source, out = tmp_path / "in.csv", tmp_path / "rated.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, *ROWS])
    rated = run_cli("--models-dir", e2e_models_dir, "--csv", source, "--out", out, "--explain",
                    cwd=tmp_path)  # fmt: skip
    assert rated.returncode == 3, rated.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    for row in written:
        if row["error"]:
            assert row["interval_low"] == row["contribution_title"] == ""
            continue
        assert float(row["interval_low"]) <= float(row["predicted_rating"])
        assert float(row["predicted_rating"]) <= float(row["interval_high"])
        parts = [float(row[f"contribution_{field}"]) for field in HEADER[1:]]
        total = float(row["explanation_baseline"]) + sum(parts)
        assert total == pytest.approx(float(row["predicted_rating"]), abs=1e-3)

    bad = run_cli("--models-dir", e2e_models_dir, *movie, "--level", "1.5", cwd=tmp_path)
    assert bad.returncode == 2 and "--level" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_a_stopped_run_leaves_no_output_and_no_worker(e2e_models_dir, tmp_path, stop):
    """Ctrl-C reaches the whole process group (as from a terminal), SIGTERM the command alone:
    either way the workers stop, and no output or partial file is left."""
    source, out = tmp_path / "in.csv", tmp_path / "rated.csv"
    movies = synthetic_movies(500, seed=8)
    pd.concat([movies] * 200, ignore_index=True).to_csv(source, index=False)  # 100,000 rows
    command = [sys.executable, "-m", "movie_rating.predict", "--models-dir", e2e_models_dir]
    command += ["--input", source, "--out", out, "--chunk-rows", "500", "--processes", "2"]
    process = subprocess.Popen(
        list(map(str, command)), stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        partial = []
        while not partial and process.poll() is None:
            time.sleep(0.05)  # wait for the first rated chunk to reach the partial file
            partial = [p for p in tmp_path.glob(".rated.csv.*") if p.stat().st_size > 0]
        assert process.poll() is None, "the run ended before it could be stopped"
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 2
        if stop == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == (130 if stop == "ctrl-c" else 1), stderr
    assert "no output written" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    psutil.wait_procs(workers, timeout=10)
    assert not any(worker.is_running() for worker in workers)
