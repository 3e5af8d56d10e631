"""Settings and app wiring in process; the HTTP behaviour is tested on a real server in e2e."""

import asyncio
import inspect

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from serving_fixtures import MOVIE

from movie_rating.serving import deps
from movie_rating.serving.app import create_app
from movie_rating.serving.routes import predict as predict_routes
from movie_rating.serving.schemas import MovieInput
from movie_rating.serving.settings import Settings


def test_settings_defaults_and_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = Settings()
    assert settings.api_key is None
    assert settings.cors_origins == []
    assert (settings.max_batch_size, settings.max_body_bytes) == (256, 1_000_000)
    assert settings.artifacts.artifact_path.as_posix() == "models/production_pipeline_v1.joblib"
    monkeypatch.setenv("MOVIE_RATING_API_KEY", "s3cret-value")
    monkeypatch.setenv("MOVIE_RATING_CORS_ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("MOVIE_RATING_LOG_LEVEL", "debug")
    settings = Settings()
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
    for dependency in (deps.get_state, deps.get_settings, deps.require_api_key, deps.get_predictor):
        assert inspect.iscoroutinefunction(dependency), dependency.__name__


class _Predictor:
    """Records whether each call ran on the event loop's thread."""

    version = "fake"

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.on_loop: list[bool] = []

    def _on_loop(self) -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    def predict_fast(self, movie: MovieInput) -> float | None:
        self.on_loop.append(self._on_loop())
        return 7.0 if self.fast else None

    def predict_one(self, movie: MovieInput) -> float:
        self.on_loop.append(self._on_loop())
        return 6.0


@pytest.mark.parametrize(
    ("fast", "rating", "on_loop"), [(True, 7.0, [True]), (False, 6.0, [True, False])]
)
def test_only_the_fast_path_runs_on_the_event_loop(tmp_path, fast, rating, on_loop):
    app = create_app(Settings(models_dir=tmp_path))
    service = app.state.service
    predictor = _Predictor(fast)
    service.load_model = lambda: None
    with TestClient(app) as client:
        service.predictor = predictor
        response = client.post("/predict", json=MOVIE)
    assert response.status_code == 200
    assert response.json()["predicted_rating"] == rating
    assert predictor.on_loop == on_loop


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
