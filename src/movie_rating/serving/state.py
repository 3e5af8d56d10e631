"""What the service knows at run time: settings, the model (once verified), its metrics."""

import logging
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from movie_rating.errors import MovieRatingError
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class ServiceMetrics:
    """Application metrics, on the app's own registry so several apps can share a process."""

    registry: CollectorRegistry
    predictions: Counter = field(init=False)
    model_info: Gauge = field(init=False)

    def __post_init__(self) -> None:
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

    def load_model(self) -> None:
        """Load and verify the artifact; on failure the service stays up, but not ready."""
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
        card = predictor.card
        self.metrics.model_info.labels(
            name=str(card.get("name", "")),
            version=predictor.version,
            family=str(card.get("model_family", "")),
            stage=self.settings.stage,
        ).set(1)
        self.predictor = predictor
        self.not_ready_reason = ""
