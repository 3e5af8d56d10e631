"""Real MLflow tracking servers for the registry tests, started once per session.

- `mlflow_server`: SQLite backend, artifacts proxied by the server into a local directory.
- `mlflow_s3_server`: SQLite backend, artifacts in an S3 bucket served by moto's server mode;
  clients read and write the bucket themselves through MLFLOW_S3_ENDPOINT_URL, the way the
  service reaches MinIO or real S3.

Both servers and moto are launched together at the first request for either, so their ~30 s
start-ups (database migrations) overlap instead of adding up.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from conftest import free_port

MLFLOW_STARTUP_SECONDS = 120  # ~30 s on an idle machine; the CI boxes are shared
BUCKET = "movie-rating-models"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Service:
    """A server process on loopback; `client_env` is what a client of it needs."""

    name: str
    url: str
    log: Path
    process: subprocess.Popen
    client_env: dict[str, str] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_healthy(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}{path}", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} not up in {timeout:.0f} s:\n{self.log_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Terminate the server's process group (mlflow forks its uvicorn workers)."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def s3_keys(self, prefix: str = "") -> list[str]:
        """Keys in the moto bucket (S3-backed server only)."""
        import boto3

        endpoint = self.client_env["MLFLOW_S3_ENDPOINT_URL"]
        s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


def _spawn(name: str, command: list[str], workdir: Path, env: dict[str, str]) -> Service:
    port = free_port()
    log = workdir / f"{name}.log"
    command = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminate() reaches the server, not just a wrapper
        )
    return Service(name, f"http://127.0.0.1:{port}", log, process)


def _mlflow_command(workdir: Path, *storage: str) -> list[str]:
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    if mlflow is None:
        pytest.skip("the mlflow CLI is not installed (uv sync --group registry)")
    return [
        mlflow, "server", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
        *storage, "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def _registry_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    pytest.importorskip("mlflow", reason="mlflow is not installed (uv sync --group registry)")
    pytest.importorskip("moto", reason="moto[server] is not installed (uv sync --group registry)")
    boto3 = pytest.importorskip("boto3")
    root = tmp_path_factory.mktemp("registry")
    services: dict[str, Service] = {}
    try:
        local_dir, s3_dir = root / "local", root / "s3"
        local_dir.mkdir()
        s3_dir.mkdir()
        moto = _spawn(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"],
            root,
            S3_ENV,
        )
        services["moto"] = moto
        services["local"] = _spawn(
            "mlflow-local",
            _mlflow_command(local_dir, "--artifacts-destination", str(local_dir / "artifacts")),
            local_dir,
            {},
        )
        s3_env = {**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": moto.url}
        services["s3"] = _spawn(
            "mlflow-s3",
            _mlflow_command(
                s3_dir, "--default-artifact-root", f"s3://{BUCKET}/mlflow", "--no-serve-artifacts"
            ),
            s3_dir,
            s3_env,
        )
        services["s3"].client_env = s3_env
        moto.wait_healthy("/moto-api/", timeout=60)
        boto3.client("s3", endpoint_url=moto.url, **_boto_credentials()).create_bucket(
            Bucket=BUCKET
        )
        yield services
    finally:
        for service in services.values():
            service.stop()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="session")
def mlflow_server(_registry_services: dict[str, Service]) -> Service:
    server = _registry_services["local"]
    server.wait_healthy("/health", MLFLOW_STARTUP_SECONDS)
    return server


@pytest.fixture(scope="session")
def mlflow_s3_server(_registry_services: dict[str, Service]) -> Service:
    server = _registry_services["s3"]
    server.wait_healthy("/health", MLFLOW_STARTUP_SECONDS)
    return server
