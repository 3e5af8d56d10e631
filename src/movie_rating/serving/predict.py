"""The production predictor: one verified artifact, one loader, predictions clipped to 0-10.

The artifact is loaded only after its sha256 matches the model card beside it, so a tampered or
half-copied file is refused before `joblib.load` ever unpickles it.
"""

import json
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.pipeline import Pipeline

from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.errors import MovieRatingError
from movie_rating.evaluation.metrics import clip_ratings
from movie_rating.serving.batchpath import BatchPredictor, compile_batch_predictor
from movie_rating.serving.fastpath import NotCanonical, RowPredictor, compile_row_predictor
from movie_rating.serving.schemas import MovieInput

logger = logging.getLogger(__name__)

CARD_FILE = "model_card.json"


class ModelIntegrityError(MovieRatingError):
    """The artifact or its card is missing, unreadable, or the checksums disagree."""


@dataclass(frozen=True)
class ProdArtifacts:
    """Where the artifact of one registry stage lives: `<models_dir>/<pipeline_name>.joblib`."""

    stage: str = "prod"
    pipeline_name: str = "production_pipeline_v1"
    models_dir: Path = Path("models")

    @property
    def artifact_path(self) -> Path:
        return self.models_dir / f"{self.pipeline_name}.joblib"

    @property
    def card_path(self) -> Path:
        return self.models_dir / CARD_FILE


def read_card(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelIntegrityError(f"model card {path} does not exist; run `dvc repro` first")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        card["artifact"]["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise ModelIntegrityError(f"model card {path} is not a valid card: {error!r}") from None
    if not isinstance(card, dict):
        raise ModelIntegrityError(f"model card {path} is not a JSON object")
    return card


def verify_artifact(artifact: Path, card: dict[str, Any]) -> str:
    """The artifact's sha256, after checking it is the file the card describes."""
    if not artifact.is_file():
        raise ModelIntegrityError(f"model artifact {artifact} does not exist; run `dvc repro`")
    named = card["artifact"].get("path")
    if named is not None and Path(named).name != artifact.name:
        raise ModelIntegrityError(
            f"model card describes {named!r}, not {artifact.name!r}: card and artifact mismatch"
        )
    expected = str(card["artifact"]["sha256"])
    actual = sha256_of(artifact)
    if actual != expected:
        raise ModelIntegrityError(
            f"checksum mismatch for {artifact}: card expects sha256 {expected}, "
            f"file has {actual}; refusing to load a tampered or stale artifact"
        )
    features = card.get("input_features")
    if features is not None and list(features) != list(INPUT_FEATURES):
        raise ModelIntegrityError(
            f"model expects inputs {features}, this service sends {list(INPUT_FEATURES)}"
        )
    return actual


class ProductionPredictor:
    """Load the production pipeline once, then predict ratings for movies.

    `predict_one` is the latency path for the API: a row-at-a-time view of the same fitted
    pipeline (see `fastpath`), proven equal to `pipeline.predict` on probe rows at load time;
    rows it does not handle, or pipelines it cannot compile, go through the pipeline itself.
    Either way it returns what `predict_many` returns for the same movie (tests: 1e-9).

    `predict_many` is the throughput path: a column-at-a-time view of the pipeline with a
    LightGBM model's trees compiled to native code (see `batchpath` and `compiled_trees`, ~6.5x
    faster than the pipeline on the test split), checked the same way at load time; without
    one, or if it fails on a batch, the pipeline predicts.
    """

    def __init__(self, artifacts: ProdArtifacts) -> None:
        self.artifacts = artifacts
        self._pipeline: Pipeline | None = None
        self._card: dict[str, Any] | None = None
        self._fast: RowPredictor | None = None
        self._batch: BatchPredictor | None = None

    @property
    def artifact_path(self) -> Path:
        return self.artifacts.artifact_path

    @property
    def is_loaded(self) -> bool:
        return self._pipeline is not None

    @property
    def card(self) -> dict[str, Any]:
        if self._card is None:
            raise ModelIntegrityError("model is not loaded; call load() first")
        return self._card

    @property
    def version(self) -> str:
        return str(self.card.get("version") or self.card["artifact"]["sha256"][:12])

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise ModelIntegrityError("model is not loaded; call load() first")
        return self._pipeline

    def load(self) -> "ProductionPredictor":
        card = read_card(self.artifacts.card_path)
        sha = verify_artifact(self.artifact_path, card)
        pipeline = joblib.load(self.artifact_path)
        if not isinstance(pipeline, Pipeline):
            raise ModelIntegrityError(
                f"{self.artifact_path} holds a {type(pipeline).__name__}, not a Pipeline"
            )
        model = pipeline[-1]
        if "n_jobs" in model.get_params():
            # Requests already run in parallel; threads inside one prediction only add latency.
            model.set_params(n_jobs=1)
        self._fast = compile_row_predictor(pipeline)
        self._batch = compile_batch_predictor(pipeline)
        self._pipeline, self._card = pipeline, card
        logger.info(
            "model loaded",
            extra={
                "artifact": str(self.artifact_path),
                "sha256": sha,
                "version": self.version,
                "fast_path": self._fast is not None,
                "batch_path": self._batch is not None,
            },
        )
        return self

    def predict_many(self, movies: Sequence[MovieInput] | pd.DataFrame) -> np.ndarray:
        pipeline = self.pipeline
        frame = movies if isinstance(movies, pd.DataFrame) else movies_frame(movies)
        missing = [column for column in INPUT_FEATURES if column not in frame.columns]
        if missing:
            raise MovieRatingError(f"input lacks column(s) {missing}")
        if frame.empty:
            return np.empty(0, dtype=np.float64)
        if self._batch is not None:
            try:
                return clip_ratings(self._batch(frame))
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                # An input the batch path was not written for: the pipeline predicts it, or
                # raises the error the caller should see.
                logger.warning("batch path failed, using the pipeline: %r", error)
        return clip_ratings(pipeline.predict(frame))

    @property
    def has_fast_path(self) -> bool:
        return self._fast is not None

    @property
    def has_batch_path(self) -> bool:
        return self._batch is not None

    def predict_fast(self, movie: MovieInput) -> float | None:
        """The fast path's rating (~0.3 ms), or None when there is none or the row is unusual
        (then `predict_one` runs the whole pipeline, in milliseconds)."""
        if self._fast is None:
            return None
        try:
            with _skip_checks():
                return float(clip_ratings([self._fast(movie.as_row())])[0])
        except NotCanonical:
            return None

    def predict_one(self, movie: MovieInput) -> float:
        fast = self.predict_fast(movie)
        if fast is not None:
            return fast
        with _skip_checks():
            predicted = self.pipeline.predict(_one_row_frame(movie.as_row()))
        return float(clip_ratings(predicted)[0])


def _skip_checks() -> AbstractContextManager[None]:
    # Inputs were validated by MovieInput: scikit-learn's per-call checks only cost time.
    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


def movies_frame(movies: Sequence[MovieInput]) -> pd.DataFrame:
    """The batch path's frame: one row per movie, the input columns as text."""
    rows = [movie.as_row() for movie in movies]
    return pd.DataFrame(rows, columns=list(INPUT_FEATURES), dtype=object).astype(str)


def _one_row_frame(row: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({column: [row[column]] for column in INPUT_FEATURES}, dtype=str)
