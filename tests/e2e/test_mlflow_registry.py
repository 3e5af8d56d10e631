"""The optional MLflow registry path, end to end: real `mlflow server`s (SQLite; local and
moto-S3 artifact stores), the registration CLI, and real uvicorn services loading
`models:/<the name on the model card>@prod`.

The tests share one registry and run in file order; the last one kills it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from conftest import LiveServer, free_port, live_server, wait_until_settled
from serving_fixtures import (
    MODEL_NAME,
    artifact_file,
    movie_inputs,
    synthetic_movies,
    tamper,
    write_model_dir,
)

from movie_rating.artifact import CARD_FILE
from movie_rating.data.ingest import sha256_of
from movie_rating.serving.predict import ProductionPredictor

pytestmark = pytest.mark.e2e
pytest_plugins = ["mlflow_fixtures"]  # the session-scoped registry servers
mlflow_registry = pytest.importorskip(
    "movie_rating.model_registry.mlflow_registry", reason="mlflow is not installed"
)

SETTLE_SECONDS = 90  # the service imports mlflow and downloads the model before it is ready
MOVIES = synthetic_movies(8, seed=21)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three distinguishable exports: v1 and v2 get registered, `local` is the fallback."""
    root = tmp_path_factory.mktemp("exports")
    return {
        "v1": write_model_dir(root / "v1"),
        "v2": write_model_dir(root / "v2", alpha=30.0),
        "local": write_model_dir(root / "local", target_scale=2.0),
    }


def card_of(models_dir: Path) -> dict:
    return json.loads((models_dir / CARD_FILE).read_text(encoding="utf-8"))


def registry_cli(
    command: str,
    models_dir: Path,
    tracking_uri: str | None,
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m movie_rating.model_registry <command>`; the registered name is, by default,
    the one on the card in `models_dir`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environment |= env or {}
    if tracking_uri is not None:
        environment["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.run(
        [sys.executable, "-m", "movie_rating.model_registry", command,
         "--models-dir", str(models_dir), *extra],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def register_cli(
    models_dir: Path, tracking_uri: str | None, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return registry_cli("register", models_dir, tracking_uri, *extra, env=env)


def registry_service(workdir: Path, local_dir: Path, tracking_uri: str):
    """The API with MODEL_SOURCE=mlflow; `local_dir` is its fallback."""
    return live_server(
        workdir,
        local_dir,
        model_source="mlflow",
        mlflow_tracking_uri=tracking_uri,
        registry_timeout_seconds="5",
    )


def assert_serves(server: LiveServer, models_dir: Path, source: str) -> dict:
    """Ready, /model names `source` and the card of `models_dir`, and the predictions are
    exactly those of that directory's artifact loaded locally."""
    ready = wait_until_settled(server, timeout=SETTLE_SECONDS)
    assert ready.status_code == 200, ready.text + server.log_text()[-3000:]
    card = card_of(models_dir)
    body = httpx.get(f"{server.url}/model", timeout=30).json()
    assert (body["source"], body["sha256"]) == (source, card["artifact"]["sha256"]), body
    expected = ProductionPredictor(models_dir).load()
    movies = [m.model_dump(mode="json") for m in movie_inputs(MOVIES)]
    batch = httpx.post(f"{server.url}/predict/batch", json={"movies": movies}, timeout=30)
    served = [row["predicted_rating"] for row in batch.json()["results"]]
    np.testing.assert_array_equal(served, expected.predict_many(movie_inputs(MOVIES)))
    one = httpx.post(f"{server.url}/predict", json=movies[0], timeout=30).json()
    assert one["predicted_rating"] == expected.predict_one(movie_inputs(MOVIES)[0])
    assert one["model_version"] == card["version"]
    return body


def test_register_without_tracking_uri_does_nothing(model_dirs):
    skipped = register_cli(model_dirs["v1"], None)
    assert skipped.returncode == 0, skipped.stderr
    assert "MLFLOW_TRACKING_URI is not set: nothing registered" in skipped.stderr
    required = register_cli(model_dirs["v1"], None, "--require-registry")
    assert required.returncode == 1
    assert "error: MLFLOW_TRACKING_URI is not set" in required.stderr


def test_unreachable_registry_warns_and_the_local_export_stands(model_dirs, tmp_path):
    export = Path(shutil.copytree(model_dirs["v1"], tmp_path / "models"))
    before = {path.name: sha256_of(path) for path in export.iterdir()}
    dead = f"http://127.0.0.1:{free_port()}"
    result = register_cli(export, dead)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert warning, result.stderr
    assert dead in warning[0] and "unreachable" in warning[0] and "refused" in warning[0]
    assert "local export" in warning[0] and "unaffected" in warning[0]
    assert result.stdout == ""
    required = register_cli(export, dead, "--require-registry")
    assert required.returncode == 1
    assert f"error: MLflow registry at {dead} is unreachable" in required.stderr
    assert {path.name: sha256_of(path) for path in export.iterdir()} == before
    ProductionPredictor(export).load()


def test_gto_registers_and_assigns_the_dvc_artifact_without_a_server(repo_root, tmp_path):
    """The git-native path: the `artifacts:` entry of the repo's dvc.yaml, GTO tags."""
    gto = shutil.which("gto", path=str(Path(sys.executable).parent))
    if gto is None:
        pytest.skip("gto is not installed (uv sync --group registry)")
    shutil.copy(repo_root / "dvc.yaml", tmp_path / "dvc.yaml")
    # the model GTO knows is the one dvc.yaml declares (named after the file export writes)
    (name,) = yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))["artifacts"]

    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env = {**os.environ, **who, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def run(*command: str) -> str:
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("git", "init", "-q")
    run("git", "add", "dvc.yaml")
    run("git", "commit", "-qm", "model")
    run(gto, "register", name, "--version", "v1.0.0")
    run(gto, "assign", name, "--version", "v1.0.0", "--stage", "prod")
    assert run(gto, "show", f"{name}#prod", "--ref").strip() == f"{name}@v1.0.0"
    assert set(run("git", "tag").split()) == {f"{name}@v1.0.0", f"{name}#prod#1"}


@pytest.fixture(scope="module")
def v1_service(tmp_path_factory, mlflow_server, model_dirs) -> LiveServer:
    """v1 registered through the CLI with alias prod, then served from the registry."""
    result = register_cli(model_dirs["v1"], mlflow_server.url, "--require-registry")
    assert result.returncode == 0, result.stderr
    published = json.loads(result.stdout)
    assert (published["version"], published["alias"]) == ("1", "prod")
    assert published["artifact_sha256"] == card_of(model_dirs["v1"])["artifact"]["sha256"]
    assert published["name"] == card_of(model_dirs["v1"])["name"] == MODEL_NAME  # the default
    workdir = tmp_path_factory.mktemp("v1-service")
    with registry_service(workdir, model_dirs["local"], mlflow_server.url) as server:
        yield server


def test_served_from_registry_with_identical_predictions(v1_service, model_dirs, mlflow_server):
    body = assert_serves(v1_service, model_dirs["v1"], source="mlflow")
    assert body["registry_version"] == "1" and body["fallback_reason"] is None
    listing = httpx.get(f"{v1_service.url}/models", timeout=30).json()
    assert listing["aliases"] == {"prod": "1"}
    assert [(v["version"], v["aliases"]) for v in listing["versions"]] == [("1", ["prod"])]
    assert listing["versions"][0]["artifact_sha256"] == body["sha256"]
    assert (listing["serving_source"], listing["serving_version"]) == ("mlflow", "1")
    logged = [json.loads(line) for line in v1_service.log_text().splitlines() if "{" in line[:1]]
    loaded = [line for line in logged if line.get("event") == "model_from_registry"]
    # MOVIE_RATING_MODEL_NAME unset: the name on the local (fallback) card
    name = card_of(model_dirs["local"])["name"]
    assert loaded and loaded[0]["model_uri"] == f"models:/{name}@prod"
    listed = registry_cli("versions", model_dirs["v1"], mlflow_server.url)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["aliases"] == {"prod": "1"}


def test_moving_the_alias_serves_the_new_version_after_restart(
    v1_service, model_dirs, mlflow_server, tmp_path
):
    second = mlflow_registry.register_export(
        model_dirs["v2"], tracking_uri=mlflow_server.url, name=None, alias="prod"
    )
    assert (second.version, second.reused) == ("2", False)
    assert second.name == card_of(model_dirs["v2"])["name"]  # None: the card's name
    again = mlflow_registry.register_export(
        model_dirs["v2"], tracking_uri=mlflow_server.url, name=second.name, alias="prod"
    )
    assert (again.version, again.reused) == ("2", True)  # same bytes: no duplicate version
    listing = httpx.get(f"{v1_service.url}/models", timeout=30).json()
    assert listing["aliases"] == {"prod": "2"}
    assert [(v["version"], v["aliases"]) for v in listing["versions"]] == [
        ("2", ["prod"]),
        ("1", []),
    ]
    assert listing["serving_version"] == "1"  # a running service keeps what it loaded
    with registry_service(tmp_path, model_dirs["local"], mlflow_server.url) as restarted:
        body = assert_serves(restarted, model_dirs["v2"], source="mlflow")
        assert body["registry_version"] == "2"


def test_the_run_carries_the_backtest_and_interval_metrics(v1_service, model_dirs, mlflow_server):
    from mlflow.tracking import MlflowClient

    card = card_of(model_dirs["v1"])
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    run_id = client.get_model_version(card["name"], "1").run_id
    logged = client.get_run(run_id).data.metrics
    assert logged["test_rmse"] == card["metrics"]["test_rmse"]
    assert logged["backtest_r2"] == card["backtest"]["r2"]
    assert logged["interval_test_coverage"] == card["intervals"]["test"]["coverage"]
    assert logged["interval_backtest_coverage"] == card["intervals"]["backtest_coverage"]


def test_a_broken_version_falls_back_to_the_local_artifact(model_dirs, mlflow_server, tmp_path):
    """A version whose artifact does not match its card (same card sha recorded in the
    registry, bytes flipped in the store) is refused; the local artifact is served."""
    from mlflow.tracking import MlflowClient

    broken = Path(shutil.copytree(model_dirs["v2"], tmp_path / "broken"))
    tamper(artifact_file(broken))
    name = card_of(broken)["name"]
    client = MlflowClient(mlflow_server.url, mlflow_server.url)
    experiment = client.get_experiment_by_name(mlflow_registry.DEFAULT_EXPERIMENT)
    run = client.create_run(experiment.experiment_id, run_name="tampered")
    for path in broken.glob("*.*"):
        if path.suffix in (".joblib", ".json"):
            client.log_artifact(run.info.run_id, str(path), mlflow_registry.ARTIFACT_DIR)
    version = client.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/{mlflow_registry.ARTIFACT_DIR}",
        run_id=run.info.run_id,
        tags={mlflow_registry.SHA_TAG: card_of(broken)["artifact"]["sha256"]},
    )
    client.set_registered_model_alias(name, "prod", version.version)
    try:
        with registry_service(tmp_path, model_dirs["local"], mlflow_server.url) as server:
            body = assert_serves(server, model_dirs["local"], source="fallback")
            assert "checksum mismatch" in body["fallback_reason"]
            assert body["registry_version"] is None
    finally:
        client.set_registered_model_alias(name, "prod", "2")


def test_s3_artifact_store_through_moto(model_dirs, mlflow_s3_server, monkeypatch, tmp_path):
    for key, value in mlflow_s3_server.client_env.items():
        monkeypatch.setenv(key, value)  # the CLI and the service both talk to the bucket
    result = register_cli(
        model_dirs["v1"], mlflow_s3_server.url, "--require-registry",
        env=mlflow_s3_server.client_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    published = json.loads(result.stdout)
    assert published["source"].startswith("s3://movie-rating-models/mlflow/")
    keys = mlflow_s3_server.s3_keys("mlflow/")
    assert {Path(key).name for key in keys} >= {artifact_file(model_dirs["v1"]).name, CARD_FILE}
    with registry_service(tmp_path, model_dirs["local"], mlflow_s3_server.url) as server:
        body = assert_serves(server, model_dirs["v1"], source="mlflow")
        assert body["registry_version"] == published["version"]


def test_registry_down_keeps_the_service_ready_via_fallback(
    v1_service, model_dirs, mlflow_server, tmp_path
):
    """Last: stops the shared registry."""
    mlflow_server.stop()
    down = httpx.get(f"{v1_service.url}/models", timeout=30)
    assert down.status_code == 503
    assert mlflow_server.url in down.json()["detail"] and "unreachable" in down.json()["detail"]
    assert httpx.get(f"{v1_service.url}/ready", timeout=30).status_code == 200
    with registry_service(tmp_path, model_dirs["local"], mlflow_server.url) as server:
        body = assert_serves(server, model_dirs["local"], source="fallback")
        assert mlflow_server.url in body["fallback_reason"]
        assert httpx.get(f"{server.url}/models", timeout=30).status_code == 503
        lines = [json.loads(line) for line in server.log_text().splitlines() if line[:1] == "{"]
        fallback = [line for line in lines if line.get("event") == "model_fallback"]
        assert fallback and fallback[0]["level"] == "WARNING"
        assert mlflow_server.url in fallback[0]["message"]
