"""One Optuna study shared by two worker processes through a real PostgreSQL server."""

import copy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import joblib
import optuna
import pytest
import yaml

from movie_rating.data.split import write_movies
from movie_rating.features.pipelines import build_feature_pipeline

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_binary(name: str) -> str | None:
    """On PATH (this image), else where Debian's postgresql package installs it."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _run_as_postgres(*command: str) -> subprocess.CompletedProcess:
    # initdb refuses to run as root; CI and developers here are root. No pipes: the server
    # that pg_ctl leaves running would hold them open and the call would never return.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryFile(mode="w+") as output:
        done = subprocess.run(
            [*prefix, *command], stdout=output, stderr=subprocess.STDOUT, text=True, timeout=120
        )
        output.seek(0)
        done.stdout = output.read()
    return done


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="movie-rating-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = _free_port()
    init = _run_as_postgres(initdb, "-D", str(data), "-A", "trust", "-U", "postgres")
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stdout.strip()[:300]}")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    log = base / "server.log"
    start = _run_as_postgres(
        "pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "start"
    )
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {start.stdout.strip()[:300]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        _run_as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def worker_inputs(tmp_path, repo_params, movie_factory) -> dict[str, Path]:
    params = copy.deepcopy(repo_params)
    params["tune"] |= {"cv_folds": 2}
    params["models"]["lightgbm"] = {"n_estimators": 10, "min_child_samples": 5}
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    train_path = tmp_path / "train.csv"
    write_movies(movie_factory(80, seed=5).drop(columns=["popularity", "poster_url"]), train_path)
    features_path = tmp_path / "features.joblib"
    joblib.dump(build_feature_pipeline("v1_original", params["featurize"]), features_path)
    return {"params": params_path, "train": train_path, "features": features_path}


def test_two_workers_share_one_study_without_losing_trials(postgres_url, worker_inputs):
    study = "shared-lightgbm"
    command = [
        sys.executable, "-m", "movie_rating.tuning.worker",
        "--params", str(worker_inputs["params"]),
        "--family", "lightgbm",
        "--features", str(worker_inputs["features"]),
        "--train", str(worker_inputs["train"]),
        "--study", study,
        "--n-trials", "4",
    ]  # fmt: skip
    env = {**os.environ, "OPTUNA_STORAGE": postgres_url}
    # Create the study first so the two workers do not race to create its tables.
    optuna.create_study(study_name=study, storage=postgres_url, direction="minimize")
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0].decode() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs

    trials = optuna.load_study(study_name=study, storage=postgres_url).get_trials()
    finished = [t for t in trials if t.state.is_finished()]
    assert len(trials) == 8
    assert len(finished) == 8
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.value is None or t.value > 0 for t in finished)
