"""Publish the exported pipeline to an MLflow model registry and fetch the version an alias names.

The registered files are the exact bytes of the local export: the joblib and its model card are
logged as plain run artifacts (no MLflow flavour re-serialises the pipeline), so the card's
sha256 verifies a downloaded artifact exactly as it verifies the local one. The artifact store is
whatever the tracking server says: its proxy (`mlflow-artifacts:/`), a local path, or S3 and
S3-compatible stores (MinIO) through MLFLOW_S3_ENDPOINT_URL and the usual AWS credentials.

Every call fails fast (no retries, a short timeout) and raises `RegistryUnavailable` with the
tracking URI and the reason, so callers can fall back to the local files.
"""

import contextlib
import io
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from mlflow.artifacts import download_artifacts
from mlflow.entities import Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from movie_rating.artifact import (
    CARD_FILE,
    ModelCard,
    ModelIntegrityError,
    card_path,
    read_card,
    verify_artifact,
)
from movie_rating.errors import MovieRatingError

logger = logging.getLogger(__name__)

TRACKING_URI_ENV: Final = "MLFLOW_TRACKING_URI"
DEFAULT_EXPERIMENT: Final = "movie-rating"
ARTIFACT_DIR: Final = "model"  # run artifact folder holding the joblib + model_card.json
SHA_TAG: Final = "artifact_sha256"
CARD_VERSION_TAG: Final = "card_version"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0

_env_lock = threading.RLock()


class RegistryUnavailable(MovieRatingError):
    """The registry cannot be reached or refused a request; the message names URI and reason."""


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    alias: str
    run_id: str
    source: str
    artifact_sha256: str
    reused: bool  # this exact artifact was already a version: only the alias moved


@dataclass(frozen=True)
class FetchedModel:
    """A registry version downloaded into `models_dir`, not yet verified or loaded."""

    version: str
    run_id: str
    model_uri: str
    models_dir: Path


def redact(uri: str) -> str:
    """The URI without any user:password, for logs and error messages."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def tracking_uri_from_env() -> str | None:
    return os.environ.get(TRACKING_URI_ENV) or None


@contextlib.contextmanager
def fail_fast(timeout_seconds: float) -> Iterator[None]:
    """No retries and a short HTTP timeout for MLflow calls inside this block, unless the
    environment already sets them; the previous environment is restored afterwards. (MLflow
    reads these on every request; its defaults, 7 retries with backoff and a 120 s timeout,
    would turn an unreachable registry into minutes of waiting before any fallback.)"""
    with _env_lock:
        wanted = {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, round(timeout_seconds))),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        added = [key for key in wanted if key not in os.environ]
        os.environ.update({key: wanted[key] for key in added})
        try:
            yield
        finally:
            for key in added:
                os.environ.pop(key, None)


def check_reachable(tracking_uri: str, timeout_seconds: float) -> None:
    """Probe an HTTP tracking server's /health; other URI kinds (sqlite, file) are local."""
    if urlsplit(tracking_uri).scheme not in ("http", "https"):
        return
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            if response.status == 200:
                return
            reason = f"/health answered HTTP {response.status}"
    except urllib.error.HTTPError as error:
        reason = f"/health answered HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = str(getattr(error, "reason", error))
    raise RegistryUnavailable(f"MLflow registry at {redact(tracking_uri)} is unreachable: {reason}")


@contextlib.contextmanager
def _registry_errors(tracking_uri: str, doing: str) -> Iterator[None]:
    try:
        yield
    except (MovieRatingError, KeyboardInterrupt):
        raise
    except Exception as error:  # MlflowException, requests/boto errors: all mean "unavailable"
        reason = " ".join(str(error).split())[:500] or type(error).__name__
        raise RegistryUnavailable(
            f"MLflow registry at {redact(tracking_uri)} failed while {doing}: {reason}"
        ) from error


def _client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def register_export(
    models_dir: Path,
    *,
    tracking_uri: str,
    name: str | None,
    alias: str,
    experiment: str = DEFAULT_EXPERIMENT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> RegisteredVersion:
    """Log the verified export (artifact, card, params, metrics) as a run, register it as a
    version of `name` (default: the card's name) and point `alias` at it. Re-registering the
    same bytes moves the alias to the existing version instead of adding a duplicate."""
    card = read_card(models_dir)
    artifact = verify_artifact(models_dir, card)  # never publish a stale export
    sha, name = card.artifact.sha256, name or card.name
    with fail_fast(timeout_seconds):
        check_reachable(tracking_uri, timeout_seconds)
        with _registry_errors(tracking_uri, f"registering {name}"):
            client = _client(tracking_uri)
            version = _version_with_sha(client, name, sha)
            reused = version is not None
            if version is None:
                run_id, source = _log_run(client, experiment, artifact, card)
                version = _create_version(client, name, source, run_id, card, sha)
            client.set_registered_model_alias(name, alias, version.version)
    logger.info(
        "registered %s version %s (sha256 %s), alias %s -> %s%s",
        name, version.version, sha[:12], alias, version.version,
        " (same artifact as before: alias moved only)" if reused else "",
    )  # fmt: skip
    return RegisteredVersion(
        name=name,
        version=str(version.version),
        alias=alias,
        run_id=str(version.run_id),
        source=str(version.source),
        artifact_sha256=sha,
        reused=reused,
    )


def _version_with_sha(client: MlflowClient, name: str, sha: str) -> ModelVersion | None:
    versions = client.search_model_versions(f"name = '{name}'")
    matching = [v for v in versions if v.tags.get(SHA_TAG) == sha and v.status == "READY"]
    return max(matching, key=lambda v: int(v.version), default=None)


def _log_run(
    client: MlflowClient, experiment: str, artifact: Path, card: ModelCard
) -> tuple[str, str]:
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    run = client.create_run(
        experiment_id,
        run_name=f"{card.name}-{card.version}",
        tags={SHA_TAG: card.artifact.sha256, CARD_VERSION_TAG: card.version},
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    params = [Param(key, value) for key, value in card_params(card).items()]
    metrics = [Metric(key, value, now, 0) for key, value in card_metrics(card).items()]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.log_artifact(run_id, str(artifact), ARTIFACT_DIR)
    client.log_artifact(run_id, str(card_path(artifact.parent)), ARTIFACT_DIR)
    # MLflow writes the run's UI link to stdout here; stdout is the CLI's JSON result.
    with contextlib.redirect_stdout(io.StringIO()) as links:
        client.set_terminated(run_id)
    for line in links.getvalue().splitlines():
        logger.info("%s", line)
    return run_id, f"{run.info.artifact_uri}/{ARTIFACT_DIR}"


def card_params(card: ModelCard) -> dict[str, str]:
    """What produced the artifact, as MLflow params: pipeline, family, hyper-parameters, data."""
    params: dict[str, Any] = {
        "feature_pipeline": card.feature_pipeline,
        "model_family": card.model_family,
        "training_data_sha256": card.training_data.sha256,
        "training_rows": card.training_data.rows,
    }
    params |= {f"hp.{k}": v for k, v in card.hyperparameters.items()}
    return {key: str(value) for key, value in params.items() if value is not None}


def card_metrics(card: ModelCard) -> dict[str, float]:
    """The card's numbers as the run's metrics: the random split's and, when the card has
    them, the temporal backtest's (means over the cut years) and the intervals'."""
    metrics = dict(card.metrics)
    if card.backtest is not None:
        metrics |= {
            "backtest_rmse": card.backtest.rmse,
            "backtest_r2": card.backtest.r2,
            "backtest_baseline_rmse": card.backtest.baseline_rmse,
        }
    if card.intervals is not None:
        test = card.intervals.test
        metrics |= {
            "interval_level": card.intervals.level,
            "interval_test_coverage": test.coverage,
            "interval_test_mean_width": test.mean_width,
            "interval_test_winkler": test.winkler,
        }
        if card.intervals.backtest_coverage is not None:
            metrics["interval_backtest_coverage"] = card.intervals.backtest_coverage
    return metrics


def _create_version(
    client: MlflowClient,
    name: str,
    source: str,
    run_id: str,
    card: ModelCard,
    sha: str,
) -> ModelVersion:
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_registered_model(
            name, description="TMDB rating regression: feature pipeline + model (one joblib)."
        )
    metrics = card_metrics(card)
    version = client.create_model_version(
        name,
        source=source,
        run_id=run_id,
        tags={
            SHA_TAG: sha,
            CARD_VERSION_TAG: card.version,
            "model_family": card.model_family,
            "feature_pipeline": card.feature_pipeline,
        },
        description=(
            f"{card.model_family} on {card.feature_pipeline}, "
            f"test RMSE {metrics.get('test_rmse')}; model card: {ARTIFACT_DIR}/{CARD_FILE}"
        ),
    )
    deadline = time.monotonic() + 30
    while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(0.2)
        version = client.get_model_version(name, version.version)
    if version.status != "READY":
        raise RegistryUnavailable(
            f"version {version.version} of {name} is {version.status}: {version.status_message}"
        )
    return version


def fetch_alias(
    tracking_uri: str,
    *,
    name: str,
    alias: str,
    dest: Path,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> FetchedModel:
    """Download `models:/<name>@<alias>` (artifact + card) into `dest`.

    The alias is resolved once and that version's files downloaded, so a concurrent alias move
    cannot mix versions. The registry's recorded sha256 must match the downloaded card; the
    caller then loads through `movie_rating.artifact`, which checks the artifact against it.
    """
    with fail_fast(timeout_seconds):
        check_reachable(tracking_uri, timeout_seconds)
        with _registry_errors(tracking_uri, f"fetching models:/{name}@{alias}"):
            client = _client(tracking_uri)
            version = client.get_model_version_by_alias(name, alias)
            source = client.get_model_version_download_uri(name, version.version)
            local = download_artifacts(
                artifact_uri=source, dst_path=str(dest), tracking_uri=tracking_uri
            )
    card = read_card(Path(local))
    recorded = version.tags.get(SHA_TAG)
    if recorded is not None and recorded != card.artifact.sha256:
        raise ModelIntegrityError(
            f"version {version.version} of {name}: the registry records sha256 {recorded}, "
            f"its model card says {card.artifact.sha256}"
        )
    return FetchedModel(
        version=str(version.version),
        run_id=str(version.run_id),
        model_uri=f"models:/{name}@{alias}",
        models_dir=Path(local),
    )


def list_versions(
    tracking_uri: str, *, name: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Registered versions of `name`, newest first, with their aliases; empty if unregistered."""
    with fail_fast(timeout_seconds):
        check_reachable(tracking_uri, timeout_seconds)
        with _registry_errors(tracking_uri, f"listing versions of {name}"):
            client = _client(tracking_uri)
            try:
                aliases = dict(client.get_registered_model(name).aliases)
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                aliases, versions = {}, list[ModelVersion]()
            else:
                versions = client.search_model_versions(f"name = '{name}'")
    by_version: dict[str, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(str(number), []).append(alias)
    rows = [
        {
            "version": str(v.version),
            "aliases": sorted(by_version.get(str(v.version), [])),
            "status": str(v.status),
            "run_id": v.run_id,
            "created_at": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(),
            "artifact_sha256": v.tags.get(SHA_TAG),
            "card_version": v.tags.get(CARD_VERSION_TAG),
            "model_family": v.tags.get("model_family"),
        }
        for v in sorted(versions, key=lambda v: int(v.version), reverse=True)
    ]
    return {
        "name": name,
        "tracking_uri": redact(tracking_uri),
        "aliases": {alias: str(number) for alias, number in sorted(aliases.items())},
        "versions": rows,
    }
