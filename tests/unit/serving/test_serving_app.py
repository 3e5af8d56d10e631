"""Settings and app wiring in process; the HTTP behaviour is tested on a real server in e2e."""

import inspect

import pytest
from pydantic import ValidationError

from movie_rating.serving.app import create_app
from movie_rating.serving.routes import predict as predict_routes
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


def test_prediction_endpoints_are_sync_so_they_run_in_the_threadpool():
    assert not inspect.iscoroutinefunction(predict_routes.predict)
    assert not inspect.iscoroutinefunction(predict_routes.predict_batch)
