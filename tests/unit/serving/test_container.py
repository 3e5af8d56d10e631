"""The Dockerfile: hadolint-clean, and the properties the serving issue asks of it; the model
files it copies are the ones dvc.yaml's export writes."""

import shlex
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml
from serving_fixtures import artifact_file, tamper

from movie_rating import predict as predict_cli
from movie_rating.errors import MovieRatingError

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"


def exported_model() -> tuple[str, str]:
    """The artifact and card paths the export stage writes (dvc.yaml's `paths`)."""
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))
    paths = next(v["paths"] for v in dvc["vars"] if isinstance(v, dict) and "paths" in v)
    return paths["model"], paths["model_card"]


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
    # the defaults users get; .ci/container passes its own (it cannot pull them)
    assert "ARG BASE_IMAGE=python:3.11-slim" in text and "FROM ${BASE_IMAGE} AS runtime" in text
    assert "ARG UV_IMAGE=ghcr.io/astral-sh/uv:" in text and "COPY --from=uv /uv" in text
    assert "uv sync --frozen --no-default-groups --no-dev" in text
    assert "USER 10001" in text
    assert "HEALTHCHECK" in text and "/health" in text and "curl" not in text
    _, card = exported_model()
    assert f"ERROR: {card} or the model artifact is missing" in text
    assert "--factory" in text and "movie_rating.serving.app:create_app" in text


def test_dockerignore_keeps_the_model_and_drops_the_rest():
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines.count("*") == 1
    model, card = exported_model()
    allowed = [line[1:] for line in lines if line.startswith("!")]
    assert any(fnmatch(model, pattern) for pattern in allowed), allowed
    assert card in allowed
    assert not any(line.startswith("!data") or line == "!.env" for line in lines)


def test_compose_builds_this_image_on_loopback():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    api = compose["services"]["api"]
    assert api["build"] == "."
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert api["read_only"] is True


def build_check() -> list[str]:
    """The arguments of the Dockerfile's build-time `python -m movie_rating.predict` check."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    runs = [shlex.split(line[4:]) for line in text.splitlines() if line.startswith("RUN python")]
    assert len(runs) == 1, runs
    assert runs[0][:3] == ["python", "-m", "movie_rating.predict"], runs[0]
    return runs[0][3:]


@pytest.mark.parametrize("model", ["lightgbm", "ridge", "tampered"])
def test_the_build_check_refuses_what_the_service_would_refuse_or_serve_slowly(
    model, request, monkeypatch, capsys, models_copy
):
    """Run in process, on the image's model folder replaced by a tiny model's."""
    args = build_check()
    assert args[args.index("--models-dir") + 1] == "/app/models"
    assert "--require-fast-path" in args
    models_dir = {
        "lightgbm": request.getfixturevalue("lightgbm_models_dir"),
        "ridge": models_copy,
        "tampered": models_copy,
    }[model]
    if model == "tampered":
        tamper(artifact_file(models_copy))
    argv = [str(models_dir) if arg == "/app/models" else arg for arg in args]
    monkeypatch.setattr(sys, "argv", ["movie_rating.predict", *argv])
    if model == "lightgbm":
        predict_cli.main()
        assert 0.0 <= float(capsys.readouterr().out.splitlines()[0]) <= 10.0
        return
    expected = "not on the fast path: Ridge" if model == "ridge" else "checksum mismatch"
    with pytest.raises(MovieRatingError, match=expected):
        predict_cli.main()
