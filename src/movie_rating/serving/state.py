"""What the service knows at run time: settings, the model (once verified), its metrics."""

import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from movie_rating.artifact import card_path, read_card
from movie_rating.errors import MovieRatingError
from movie_rating.serving.batching import MovieBatcher
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
    fallback_predictions: Counter = field(init=False)
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
        self.fallback_predictions = Counter(
            "movie_rating_fallback_predictions",
            "Movies rated off the fast path (the model's own predict, not compiled trees).",
            ["endpoint"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "movie_rating_model_info",
            "1 for the loaded model version; absent until a model is loaded.",
            ["name", "version", "family", "stage", "serving_path"],
            registry=self.registry,
        )

    def count(self, endpoint: str, movies: int, predictor: ProductionPredictor) -> None:
        self.predictions.labels(endpoint=endpoint).inc(movies)
        if predictor.path != "compiled":
            self.fallback_predictions.labels(endpoint=endpoint).inc(movies)


@dataclass
class ServiceState:
    settings: Settings
    metrics: ServiceMetrics
    predictor: ProductionPredictor | None = None
    batcher: MovieBatcher | None = None  # /predict's requests, rated together
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
        """While the card or the artifact it names is missing (a volume still mounting, `dvc
        pull` still running), look again every `model_poll_seconds`; /ready says so."""
        models_dir = self.settings.models_dir
        while not _model_files_present(models_dir):
            self.not_ready_reason = "waiting for the model card and the artifact it names"
            poll = self.settings.model_poll_seconds
            if poll <= 0 or self.stopping.wait(poll):
                return

    def _load_local(self) -> None:
        self._wait_for_model_files()
        predictor = ProductionPredictor(self.settings.models_dir)
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
        self.serve(predictor)

    def _load_from_registry(self) -> bool:
        settings = self.settings
        model_uri = f"models:/{settings.model_name or '<name on the local card>'}@{settings.stage}"
        try:
            if settings.mlflow_tracking_uri is None:
                raise MovieRatingError("MLFLOW_TRACKING_URI is not set")
            name = settings.model_name or read_card(settings.models_dir).name
            model_uri = f"models:/{name}@{settings.stage}"
            # Imported here: mlflow is an optional dependency (the `registry` group), slow to
            # import, and only this source needs it.
            from movie_rating.model_registry.mlflow_registry import fetch_alias

            with tempfile.TemporaryDirectory(prefix="movie-rating-registry-") as scratch:
                fetched = fetch_alias(
                    settings.mlflow_tracking_uri,
                    name=name,
                    alias=settings.stage,
                    dest=Path(scratch),
                    timeout_seconds=settings.registry_timeout_seconds,
                )
                predictor = ProductionPredictor(fetched.models_dir).load()
        except Exception as error:  # whatever went wrong, the local artifact is next
            self._fall_back(model_uri, error)
            return False
        self.source, self.registry_version = "mlflow", fetched.version
        logger.info(
            "model loaded from the registry",
            extra={"event": "model_from_registry", "model_uri": model_uri,
                   "registry_version": fetched.version, "run_id": fetched.run_id},
        )  # fmt: skip
        self.serve(predictor)
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

    def serve(self, predictor: ProductionPredictor) -> None:
        """Serve this (loaded) predictor from now on."""
        card = predictor.card
        self.metrics.model_info.labels(
            name=card.name,
            version=predictor.version,
            family=card.model_family,
            stage=self.settings.stage,
            serving_path=predictor.path,
        ).set(1)
        self.batcher = MovieBatcher(predictor, self.settings.max_batch_size)
        self.predictor = predictor
        self.not_ready_reason = ""


def _model_files_present(models_dir: Path) -> bool:
    try:
        return (models_dir / read_card(models_dir).artifact.path).is_file()
    except MovieRatingError:
        return card_path(models_dir).is_file()  # a card that is there but bad: load says why
