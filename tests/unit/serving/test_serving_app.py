"""Settings and app wiring in process (the HTTP behaviour is tested on a real server in e2e);
what the service says of its model (serving path, readiness) through FastAPI's TestClient."""

import asyncio
import inspect
import sys
import time
import types
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from serving_fixtures import (
    MODEL_NAME,
    MOVIE,
    artifact_file,
    movie_inputs,
    synthetic_movies,
    tamper,
)

from movie_rating.artifact import CARD_FILE
from movie_rating.errors import MovieRatingError
from movie_rating.serving import deps
from movie_rating.serving.app import create_app
from movie_rating.serving.predict import Scored
from movie_rating.serving.routes import predict as predict_routes
from movie_rating.serving.schemas import MovieInput
from movie_rating.serving.settings import Settings
from movie_rating.serving.state import ServiceMetrics, ServiceState


def test_settings_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = Settings()
    assert settings.api_key is None
    assert settings.cors_origins == []
    assert (settings.max_batch_size, settings.max_body_bytes) == (256, 1_000_000)
    assert settings.models_dir == Path("models")
    assert settings.model_name is None  # the registry name: by default, the local card's
    monkeypatch.setenv("MOVIE_RATING_API_KEY", "s3cret-value")
    monkeypatch.setenv("MOVIE_RATING_CORS_ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("MOVIE_RATING_LOG_LEVEL", "debug")
    monkeypatch.setenv("MOVIE_RATING_MODEL_NAME", "registered_name")
    settings = Settings()
    assert settings.model_name == "registered_name"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret-value"
    assert "s3cret" not in repr(settings)
    assert settings.cors_origins == ["https://app.example"]
    assert settings.log_level == "DEBUG"
    monkeypatch.setenv("MOVIE_RATING_API_KEY", "")
    assert Settings().api_key is None


def test_wildcard_cors_is_refused():
    with pytest.raises(ValidationError, match="cors_origins"):
        Settings(cors_origins=["*"])


def test_create_app_builds_independent_apps(tmp_path):
    first = create_app(Settings(models_dir=tmp_path))
    second = create_app(Settings(models_dir=tmp_path))  # separate metric registries: no clash
    assert first is not second
    paths = set(first.openapi()["paths"])
    assert paths == {"/health", "/ready", "/model", "/predict", "/predict/batch"}


def test_batches_run_in_the_threadpool_and_dependencies_on_the_loop():
    # A sync dependency costs a threadpool hop per request: more than a fast-path prediction.
    assert not inspect.iscoroutinefunction(predict_routes.predict_batch)
    assert inspect.iscoroutinefunction(predict_routes.predict)
    dependencies = (
        deps.get_state,
        deps.get_settings,
        deps.require_api_key,
        deps.get_predictor,
        deps.get_batcher,
    )
    for dependency in dependencies:
        assert inspect.iscoroutinefunction(dependency), dependency.__name__


class _Predictor:
    """Records each call's batch size and whether it ran on the event loop's thread; its
    interval is the rating +- 1 at any level."""

    version = "fake"
    card = SimpleNamespace(name="fake", model_family="fake")
    path_reason = None
    default_level = 0.8

    def __init__(self, path: str) -> None:
        self.path = path
        self.on_loop: list[bool] = []
        self.batches: list[int] = []

    def score_many(self, movies: list[MovieInput]) -> Scored:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        self.batches.append(len(movies))
        ratings = np.array([6.0 + len(movie.title) / 100 for movie in movies])
        return Scored(ratings, np.ones(len(movies)))

    def intervals(self, scored: Scored, level: float | None = None) -> np.ndarray:
        return np.column_stack([scored.ratings - scored.difficulty, scored.ratings + 1])


@pytest.mark.parametrize(("path", "on_loop"), [("compiled", [True]), ("fallback", [False])])
def test_only_the_compiled_path_runs_on_the_event_loop(tmp_path, path, on_loop):
    app = create_app(Settings(models_dir=tmp_path))
    service = app.state.service
    predictor = _Predictor(path)
    service.load_model = lambda: None
    with TestClient(app) as client:
        service.serve(predictor)
        response = client.post("/predict", json=MOVIE)
    assert response.status_code == 200
    rating = 6.0 + len(MOVIE["title"]) / 100
    assert response.json()["predicted_rating"] == rating
    assert response.json()["interval"] == {"low": rating - 1, "high": rating + 1, "level": 0.8}
    assert predictor.on_loop == on_loop


@pytest.mark.parametrize("path", ["compiled", "fallback"])
def test_concurrent_requests_are_rated_together_each_with_its_own_rating(tmp_path, path):
    app = create_app(Settings(models_dir=tmp_path, max_batch_size=8))
    service = app.state.service
    predictor = _Predictor(path)
    service.load_model = lambda: None
    titles = [f"Movie {'x' * i}" for i in range(20)]

    async def many() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(
                *(client.post("/predict", json={**MOVIE, "title": t}) for t in titles)
            )

    service.serve(predictor)
    responses = asyncio.run(many())
    assert [r.json()["title"] for r in responses] == titles
    assert [r.json()["predicted_rating"] for r in responses] == [
        6.0 + len(title) / 100 for title in titles
    ]
    assert sum(predictor.batches) == len(titles)
    assert max(predictor.batches) > 1, "concurrent requests were rated together"
    assert max(predictor.batches) <= 8, "no batch exceeds MOVIE_RATING_MAX_BATCH_SIZE"


def test_a_failing_batch_fails_each_of_its_requests_with_a_500(tmp_path):
    app = create_app(Settings(models_dir=tmp_path))
    service = app.state.service
    predictor = _Predictor("compiled")

    def broken(movies: list[MovieInput]) -> Scored:
        raise RuntimeError("boom at /secret/path")

    predictor.score_many = broken  # type: ignore[method-assign]
    service.load_model = lambda: None
    with TestClient(app, raise_server_exceptions=False) as client:
        service.serve(predictor)
        response = client.post("/predict", json=MOVIE)
        assert client.post("/predict", json=MOVIE).status_code == 500
    assert response.status_code == 500
    # the last-resort answer: the request's id, no exception text or path
    request_id = response.headers["X-Request-ID"]
    assert response.json() == {"detail": "internal error", "request_id": request_id}
    assert "secret" not in response.text and "boom" not in response.text


def test_metrics_are_labelled_by_route_template(tmp_path):
    app = create_app(Settings(models_dir=tmp_path))
    with TestClient(app) as client:
        client.get("/health")
        client.get("/no/such/path")
        client.get("/metrics")
        text = client.get("/metrics").text
    assert 'http_requests_total{handler="/health",method="GET",status="2xx"} 1.0' in text
    assert 'http_requests_total{handler="none",method="GET",status="4xx"} 1.0' in text
    assert 'http_request_duration_seconds_count{handler="/health",method="GET"} 1.0' in text
    assert 'handler="/metrics"' not in text


# the session fixtures (conftest.py) of each family's model folder and loaded predictor
MODELS = {
    "ridge": ("tiny_models_dir", "predictor"),
    "lightgbm": ("lightgbm_models_dir", "lightgbm_predictor"),
}
FALLBACK_COUNTER = "movie_rating_fallback_predictions_total"
WAITING = "waiting for the model card and the artifact it names"


def settled(client: TestClient, timeout: float = 30.0):
    """/ready once the model has loaded (200) or the service has said why it has not."""
    deadline = time.monotonic() + timeout
    while True:
        ready = client.get("/ready")
        if ready.status_code == 200 or ready.json()["reason"] != "model is loading":
            return ready
        assert time.monotonic() < deadline, "the model neither loaded nor was refused"
        time.sleep(0.01)


def samples(text: str, name: str) -> dict[str, float]:
    """The samples of metric `name` in a /metrics page: labels -> value."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


@pytest.mark.parametrize("family", sorted(MODELS))
def test_model_and_ready_report_the_serving_path(request, family):
    models_dir = request.getfixturevalue(MODELS[family][0])
    local = request.getfixturevalue(MODELS[family][1])
    expected_path = {"ridge": "fallback", "lightgbm": "compiled"}[family]
    assert local.path == expected_path
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        ready = settled(client)
        model = client.get("/model")
        text = client.get("/metrics").text
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model_version": local.version,
        "reason": None,
        "serving_path": expected_path,
        "serving_path_reason": local.path_reason,
    }
    assert model.status_code == 200
    body = model.json()
    assert (body["serving_path"], body["serving_path_reason"]) == (expected_path, local.path_reason)
    assert (body["name"], body["family"]) == (local.card.name, family)
    if expected_path == "fallback":
        assert body["serving_path_reason"] and "Ridge" in body["serving_path_reason"]
    else:
        assert body["serving_path_reason"] is None
    info = samples(text, "movie_rating_model_info")
    assert len(info) == 1
    (labels,) = info
    assert f'serving_path="{expected_path}"' in labels and f'version="{local.version}"' in labels


@pytest.mark.parametrize("family", sorted(MODELS))
def test_predictions_off_the_compiled_path_are_counted(request, family):
    models_dir = request.getfixturevalue(MODELS[family][0])
    movies = [m.model_dump(mode="json") for m in movie_inputs(synthetic_movies(3, seed=5))]
    with TestClient(create_app(Settings(models_dir=models_dir))) as client:
        assert settled(client).status_code == 200
        assert client.post("/predict", json=MOVIE).status_code == 200
        assert client.post("/predict/batch", json={"movies": movies}).status_code == 200
        text = client.get("/metrics").text
    assert samples(text, "movie_rating_predictions_total") == {
        '{endpoint="predict"}': 1.0,
        '{endpoint="predict_batch"}': 3.0,
    }
    fallback = samples(text, FALLBACK_COUNTER)
    if family == "ridge":
        assert f'{FALLBACK_COUNTER}{{endpoint="predict"}} 1.0' in text
        assert f'{FALLBACK_COUNTER}{{endpoint="predict_batch"}} 3.0' in text
        assert fallback == {'{endpoint="predict"}': 1.0, '{endpoint="predict_batch"}': 3.0}
    else:
        assert not any(fallback.values()), fallback
        assert f"# TYPE {FALLBACK_COUNTER} counter" in text  # declared, never incremented


def assert_no_folder(response, folder: Path) -> None:
    assert str(folder) not in response.text, response.text


def test_waiting_for_the_model_files_names_no_folder(tmp_path, tiny_models_dir):
    empty = tmp_path / "models"
    empty.mkdir()
    with TestClient(create_app(Settings(models_dir=empty, model_poll_seconds=0.05))) as client:
        waiting = settled(client)
        assert waiting.status_code == 503
        assert waiting.json() == {
            "status": "unavailable",
            "model_version": None,
            "reason": WAITING,
            "serving_path": None,
            "serving_path_reason": None,
        }
        refused = client.post("/predict", json=MOVIE)
        assert refused.status_code == 503 and WAITING in refused.json()["detail"]
        for response in (waiting, refused):
            assert_no_folder(response, tmp_path)
        # the artifact first, then the card that names it: ready once both are there
        artifact = artifact_file(tiny_models_dir)
        (empty / artifact.name).write_bytes(artifact.read_bytes())
        time.sleep(0.2)
        assert client.get("/ready").json()["reason"] == WAITING
        (empty / CARD_FILE).write_bytes((tiny_models_dir / CARD_FILE).read_bytes())
        deadline = time.monotonic() + 30
        while (ready := client.get("/ready")).status_code != 200:
            assert time.monotonic() < deadline, ready.json()
            time.sleep(0.02)
        assert ready.json()["serving_path"] == "fallback"
        assert client.post("/predict", json=MOVIE).status_code == 200


@pytest.mark.parametrize("damage", ["tampered artifact", "invalid card"])
def test_a_refused_model_is_explained_without_folders(models_copy, damage):
    if damage == "tampered artifact":
        tamper(artifact_file(models_copy))
        expected = ["checksum mismatch", artifact_file(models_copy).name]
    else:
        (models_copy / CARD_FILE).write_text("{not json", encoding="utf-8")
        expected = ["not a valid model card", CARD_FILE]
    with TestClient(create_app(Settings(models_dir=models_copy))) as client:
        ready = settled(client)
        responses = [
            ready,
            client.post("/predict", json=MOVIE),
            client.post("/predict/batch", json={"movies": [MOVIE]}),
            client.get("/model"),
        ]
    assert [r.status_code for r in responses] == [503] * 4
    assert ready.json()["serving_path"] is None
    for words in expected:
        assert words in ready.json()["reason"]
        assert words in responses[1].json()["detail"]
    for response in responses:
        assert_no_folder(response, models_copy.parent)


@pytest.mark.parametrize("model_name", [None, "registered_elsewhere"])
def test_the_registry_name_defaults_to_the_local_cards(tiny_models_dir, monkeypatch, model_name):
    """MOVIE_RATING_MODEL_NAME, or else the name on the local card, is what the registry is
    asked for; when the registry fails, the local model serves and the reason names the URI."""
    asked = []

    def fetch_alias(tracking_uri, *, name, alias, dest, timeout_seconds):
        asked.append((name, alias))
        raise MovieRatingError("no such alias")

    registry = types.ModuleType("movie_rating.model_registry.mlflow_registry")
    registry.fetch_alias = fetch_alias  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, registry.__name__, registry)  # no mlflow needed
    settings = Settings(
        models_dir=tiny_models_dir,
        model_source="mlflow",
        mlflow_tracking_uri="http://127.0.0.1:9",
        model_name=model_name,
    )
    state = ServiceState(settings=settings, metrics=ServiceMetrics(CollectorRegistry()))
    state.load_model()
    name = model_name or MODEL_NAME
    assert asked == [(name, "prod")]
    assert state.source == "fallback"
    assert state.fallback_reason == f"models:/{name}@prod: no such alias"
    assert state.predictor is not None and state.predictor.card.name == MODEL_NAME
