"""What the service knows at run time: settings, the model (once verified), its metrics."""

import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from movie_rating.errors import MovieRatingError
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.settings import Settings

logger = logging.getLogger(__name__)

ModelSource = Literal["local", "mlflow", "fallback"]


# Request latency buckets (seconds): a single-row prediction takes ~1 ms end to end.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class ServiceMetrics:
    """Application metrics, on the app's own registry so several apps can share a process.

    The HTTP metrics keep prometheus-fastapi-instrumentator's names and labels.
    """

    registry: CollectorRegistry
    requests: Counter = field(init=False)
    request_duration: Histogram = field(init=False)
    predictions: Counter = field(init=False)
    model_info: Gauge = field(init=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests, by route template, method and status class.",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency in the app, by route template and method.",
            ["handler", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "movie_rating_predictions",
            "Movies rated, by endpoint.",
            ["endpoint"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "movie_rating_model_info",
            "1 for the loaded model version; absent until a model is loaded.",
            ["name", "version", "family", "stage"],
            registry=self.registry,
        )


@dataclass
class ServiceState:
    settings: Settings
    metrics: ServiceMetrics
    predictor: ProductionPredictor | None = None
    not_ready_reason: str = "model is loading"
    source: ModelSource = "local"  # fallback: mlflow was asked for, the local model served
    registry_version: str | None = None
    fallback_reason: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def load_model(self) -> None:
        """Load and verify the model; on failure the service stays up, but not ready.

        With MODEL_SOURCE=mlflow the registry's alias is tried first; any failure there
        (unreachable, no such alias, checksum mismatch) falls back to the local artifact.
        """
        if self.settings.model_source == "mlflow":
            if self._load_from_registry():
                return
            self.source = "fallback"
        self._load_local()

    def _wait_for_model_files(self) -> None:
        """While the artifact or its card is missing (a volume still mounting, `dvc pull` still
        running), look again every `model_poll_seconds`; /ready says what it waits for."""
        artifacts = self.settings.artifacts
        while not (artifacts.artifact_path.is_file() and artifacts.card_path.is_file()):
            self.not_ready_reason = (
                f"waiting for {artifacts.artifact_path.name} and {artifacts.card_path.name} "
                f"in {artifacts.models_dir}"
            )
            poll = self.settings.model_poll_seconds
            if poll <= 0 or self.stopping.wait(poll):
                return

    def _load_local(self) -> None:
        self._wait_for_model_files()
        predictor = ProductionPredictor(self.settings.artifacts)
        try:
            predictor.load()
        except MovieRatingError as error:
            self.not_ready_reason = str(error)
            logger.error("model refused: %s", error, extra={"event": "model_refused"})
            return
        except Exception as error:  # an unreadable pickle must not take the service down
            self.not_ready_reason = f"model failed to load ({type(error).__name__})"
            logger.exception("model failed to load", extra={"event": "model_refused"})
            return
        self._serve(predictor)

    def _load_from_registry(self) -> bool:
        settings = self.settings
        model_uri = f"models:/{settings.pipeline_name}@{settings.stage}"
        try:
            if settings.mlflow_tracking_uri is None:
                raise MovieRatingError("MLFLOW_TRACKING_URI is not set")
            # Imported here: mlflow is optional and only this source needs it.
            from movie_rating.model_registry.mlflow_registry import fetch_alias

            with tempfile.TemporaryDirectory(prefix="movie-rating-registry-") as scratch:
                fetched = fetch_alias(
                    settings.mlflow_tracking_uri,
                    name=settings.pipeline_name,
                    alias=settings.stage,
                    dest=Path(scratch),
                    timeout_seconds=settings.registry_timeout_seconds,
                )
                predictor = ProductionPredictor(fetched.artifacts).load()
        except Exception as error:  # whatever went wrong, the local artifact is next
            self._fall_back(model_uri, error)
            return False
        self.source, self.registry_version = "mlflow", fetched.version
        logger.info(
            "model loaded from the registry",
            extra={"event": "model_from_registry", "model_uri": model_uri,
                   "registry_version": fetched.version, "run_id": fetched.run_id},
        )  # fmt: skip
        self._serve(predictor)
        return True

    def _fall_back(self, model_uri: str, error: Exception) -> None:
        expected = isinstance(error, MovieRatingError | ImportError)
        if isinstance(error, ImportError):
            reason = "mlflow is not installed (the `registry` dependency group)"
        elif expected:
            reason = str(error)
        else:  # e.g. an unreadable pickle: the type here, the traceback in the log
            reason = f"{type(error).__name__} while loading the registry version"
        self.fallback_reason = f"{model_uri}: {reason}"
        logger.warning(
            "registry model unavailable, falling back to the local artifact: %s",
            self.fallback_reason,
            exc_info=not expected,
            extra={"event": "model_fallback", "model_uri": model_uri},
        )

    def _serve(self, predictor: ProductionPredictor) -> None:
        card = predictor.card
        self.metrics.model_info.labels(
            name=str(card.get("name", "")),
            version=predictor.version,
            family=str(card.get("model_family", "")),
            stage=self.settings.stage,
        ).set(1)
        self.predictor = predictor
        self.not_ready_reason = ""
