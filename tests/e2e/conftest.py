"""Serving fixtures for end-to-end tests: real uvicorn servers on loopback, each on its own port,
reading a tiny model fitted by the production code path."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from serving_fixtures import artifact_file, tamper, write_model_dir

STARTUP_SECONDS = 60


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path
    models_dir: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(workdir: Path, models_dir: Path, **env: str) -> Iterator[LiveServer]:
    """`python -m uvicorn --factory movie_rating.serving.app:create_app` until /health answers."""
    port = free_port()
    log = workdir / f"server-{port}.log"
    environment = {
        **os.environ,
        "MOVIE_RATING_MODELS_DIR": str(models_dir),
        "PYTHONUNBUFFERED": "1",
        **{f"MOVIE_RATING_{key.upper()}": value for key, value in env.items()},
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "movie_rating.serving.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as sink:
        # cwd is a scratch dir, so a developer's .env cannot leak into the test.
        process = subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    server = LiveServer(f"http://127.0.0.1:{port}", log, models_dir)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited with {process.returncode}:\n{server.log_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"server did not start in {STARTUP_SECONDS} s:\n{server.log_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_settled(server: LiveServer, timeout: float = 30) -> httpx.Response:
    """Poll /ready until the model has either loaded (200) or been refused (503, not loading)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{server.url}/ready", timeout=5)
        loading = response.status_code == 503 and response.json()["reason"] == "model is loading"
        if not loading or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.fixture(scope="session")
def e2e_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp("e2e-models"))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, e2e_models_dir: Path) -> Iterator[LiveServer]:
    """The service with a small batch cap (5), so the cap is cheap to exceed."""
    with live_server(tmp_path_factory.mktemp("server"), e2e_models_dir, max_batch_size="5") as s:
        yield s


@pytest.fixture(scope="session")
def keyed_server(
    tmp_path_factory: pytest.TempPathFactory, e2e_models_dir: Path
) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("keyed"), e2e_models_dir, api_key="s3cret-key") as s:
        yield s


@pytest.fixture(scope="session")
def tampered_server(
    tmp_path_factory: pytest.TempPathFactory, e2e_models_dir: Path
) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("tampered")
    models = Path(shutil.copytree(e2e_models_dir, workdir / "models"))
    tamper(artifact_file(models))
    with live_server(workdir, models) as s:
        yield s
