"""The Dockerfile: hadolint-clean, and the properties the serving issue asks of it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_passes():
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint binary not installed")
    result = subprocess.run(
        [binary, "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "FROM python:3.11-slim AS runtime" in text
    assert "uv sync --frozen --no-default-groups --no-dev" in text
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text and "/health" in text and "curl" not in text
    assert "models/production_pipeline_v1.joblib or models/model_card.json is missing" in text
    assert "--factory" in text and "movie_rating.serving.app:create_app" in text


def test_dockerignore_keeps_the_model_and_drops_the_rest():
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines.count("*") == 1
    assert "!models/production_pipeline_v1.joblib" in lines
    assert not any(line.startswith("!data") or line == "!.env" for line in lines)


def test_compose_builds_this_image_on_loopback():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert api["read_only"] is True
