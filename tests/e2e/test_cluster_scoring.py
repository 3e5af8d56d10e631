"""Scoring on a real Dask cluster: a LocalCluster of two worker processes, no mocks."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from distributed import Client, LocalCluster
from serving_fixtures import synthetic_movies

from movie_rating.artifact import read_card
from movie_rating.errors import MovieRatingError
from movie_rating.scoring.cluster import score_on_cluster
from movie_rating.scoring.run import Options, score_file
from movie_rating.serving.predict import ProductionPredictor

pytestmark = pytest.mark.e2e

OPTIONS = Options(chunk_rows=40)  # many small chunks: a partition takes long enough to kill


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture
def parts(tmp_path):
    """Six partitions, CSV and Parquet, one row invalid."""
    folder = tmp_path / "parts"
    folder.mkdir()
    for index in range(6):
        frame = synthetic_movies(1500, seed=index)
        if index == 2:
            frame.loc[5, "original_language"] = "ENGLISH"
        path = folder / f"part-{index}.{'parquet' if index % 2 else 'csv'}"
        frame.to_parquet(path, index=False) if index % 2 else frame.to_csv(path, index=False)
    return folder


def local_outputs(models_dir, parts, folder):
    predictor = ProductionPredictor(models_dir).load()
    folder.mkdir()
    for path in sorted(parts.iterdir()):
        score_file(predictor, path, folder / path.name, OPTIONS)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_the_cluster_writes_what_local_scoring_writes(cluster, e2e_models_dir, parts, tmp_path):
    out = tmp_path / "rated"
    results = score_on_cluster(cluster.scheduler_address, e2e_models_dir, parts, out, OPTIONS)
    assert sorted(r.name for r in results) == sorted(p.name for p in parts.iterdir())
    assert {r.model_sha256 for r in results} == {read_card(e2e_models_dir).artifact.sha256}
    assert sum(r.rows for r in results) == 9000 and sum(r.invalid for r in results) == 1
    expected = local_outputs(e2e_models_dir, parts, tmp_path / "local")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == expected
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_worker_killed_mid_run_loses_nothing(cluster, e2e_models_dir, parts, tmp_path):
    out = tmp_path / "rated"
    with Client(cluster.scheduler_address) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_a_busy_worker() -> None:
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        results = score_on_cluster(cluster.scheduler_address, e2e_models_dir, parts, out, OPTIONS)
        killer.join()
        assert killed, "no worker was busy to kill"
        client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
        assert pids[killed[0]] not in client.run(os.getpid).values()
    # the partition it was scoring was scored again elsewhere: every row, once
    assert sum(r.rows for r in results) == 9000
    expected = local_outputs(e2e_models_dir, parts, tmp_path / "local")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == expected


def test_an_unreachable_scheduler_or_a_bad_partition_leaves_no_output(
    cluster, e2e_models_dir, parts, tmp_path
):
    out = tmp_path / "rated"
    with pytest.raises(MovieRatingError, match="cannot reach the Dask scheduler at tcp://"):
        score_on_cluster("tcp://127.0.0.1:9", e2e_models_dir, parts, out, OPTIONS, timeout="2s")
    with pytest.raises(MovieRatingError, match=r"at 127\.0\.0\.1: missing port number"):
        score_on_cluster("127.0.0.1", e2e_models_dir, parts, out, OPTIONS, timeout="2s")
    synthetic_movies(10).drop(columns="title").to_csv(parts / "part-9.csv", index=False)
    with pytest.raises(MovieRatingError, match=r"part-9.csv lacks column\(s\) \['title'\]"):
        score_on_cluster(cluster.scheduler_address, e2e_models_dir, parts, out, OPTIONS)
    assert list(tmp_path.iterdir()) == [parts]


def test_the_command_scores_a_folder_on_the_cluster(cluster, e2e_models_dir, parts, tmp_path):
    out = tmp_path / "rated"
    command = [sys.executable, "-m", "movie_rating.predict", "--models-dir", str(e2e_models_dir),
               "--input", str(parts), "--out", str(out),
               "--scheduler", cluster.scheduler_address]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3, result.stderr  # one invalid row, rated partitions written
    assert "6 partitions, 9000 rows: 8999 rated, 1 invalid" in result.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(p.name for p in parts.iterdir())
