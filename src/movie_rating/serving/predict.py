"""The production predictor: the verified artifact, its own feature steps, ratings clipped to 0-10.

One movie is a batch of one: both run the fitted pipeline's feature steps (the transformers'
own `transform`, as in training) and then the model. A LightGBM model's trees run as native
code compiled at load (`compiled_trees`, checked bit for bit against the booster); that is the
fast path. Where they do not compile (or the model is another family) the model's own
`predict` serves, at a fraction of the speed: `path` and `path_reason` say so, and the service
shows them (/model, /ready) and counts those predictions.

The artifact's model is a conformal regressor (`movie_rating.intervals`, unpickled, used
through its fitted parts): the point model, a difficulty model run on the same features (its
trees compiled too) and the calibration that turns a difficulty into an interval at any level.
"""

import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from lightgbm import LGBMRegressor
from sklearn.pipeline import Pipeline

from movie_rating.artifact import (
    ExplanationBaseline,
    Intervals,
    ModelCard,
    ModelIntegrityError,
    load_model,
)
from movie_rating.data.schema import INPUT_FEATURES, clip_ratings
from movie_rating.errors import MovieRatingError
from movie_rating.serving.compiled_trees import (
    CompiledForest,
    NotCompilable,
    ObjectCache,
    cache_from_environment,
    compile_lightgbm,
)
from movie_rating.serving.explain import Explanations, explain
from movie_rating.serving.schemas import MovieInput, ServingPath
from movie_rating.serving.threads import ThreadPool

logger = logging.getLogger(__name__)

# Below this many rows the trees run in one thread: waking threads costs more than it saves.
_THREADED_ROWS: Final = 256
# With this many rows a core, a batch is cut into one part per core, each scored in a thread
# (numpy, pandas' hash tables and the compiled trees run without the GIL). The test split's
# 1,946 rows in two parts: 5-21% more rows/s than in one, in four alternating runs; parts of
# ~250 rows lost (each pays the steps' fixed cost, and their Python work holds the GIL).
_PART_ROWS: Final = 768


@dataclass(frozen=True)
class LoadedModel:
    """What `load` found: the feature steps, the model and how it predicts, the difficulty
    model (compiled if it can be) and the calibrated intervals."""

    card: ModelCard
    steps: list[Any]
    model: Any
    forest: CompiledForest | None
    path: ServingPath
    path_reason: str | None
    difficulty: Any
    difficulty_forest: CompiledForest | None
    calibration: Any  # the fitted ConformalRegressor: its `bounds(predicted, raw, level)`
    intervals: Intervals  # the card's, checked present at load
    explanation_baseline: ExplanationBaseline  # likewise


@dataclass(frozen=True)
class Scored:
    """Ratings (clipped to 0-10) and the difficulty model's raw output, row for row."""

    ratings: np.ndarray
    difficulty: np.ndarray


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def compile_model(
    model: Any, cache: ObjectCache | None = None
) -> tuple[CompiledForest | None, str | None]:
    """The model's trees as native code, or None and why not, in words for an operator."""
    if type(model) is not LGBMRegressor:
        return None, f"{type(model).__name__} has no compiled form: its own predict serves"
    if any(name.startswith("pred") for name in model.get_params()):
        return None, "LightGBM prediction-time settings are not compiled: LightGBM predicts"
    try:
        return compile_lightgbm(model.booster_, threads=_cores(), cache=cache), None
    except NotCompilable as error:
        return None, f"the trees did not compile ({error}): LightGBM predicts"


class ProductionPredictor:
    """Load the production pipeline once, then rate movies, one or many, the same way."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self.cores = _cores()
        self._pool = ThreadPool(self.cores, "predict")
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            raise ModelIntegrityError("model is not loaded; call load() first")
        return self._loaded

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    @property
    def card(self) -> ModelCard:
        return self.loaded.card

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def path(self) -> ServingPath:
        return self.loaded.path

    @property
    def path_reason(self) -> str | None:
        return self.loaded.path_reason

    def load(self) -> "ProductionPredictor":
        pipeline, card = load_model(self.models_dir)
        if not isinstance(pipeline, Pipeline):
            raise ModelIntegrityError(f"the artifact holds a {type(pipeline).__name__}")
        *steps, calibration = _flat_steps(pipeline)
        if card.explanation_baseline is None:
            raise ModelIntegrityError(
                "the model card has no explanation baseline: export it again (`dvc repro export`)"
            )
        if card.intervals is None or not all(
            hasattr(calibration, part) for part in ("estimator_", "difficulty_", "bounds")
        ):
            raise ModelIntegrityError(
                "the artifact has no prediction intervals: export it again (`dvc repro export`)"
            )
        model, difficulty = calibration.estimator_, calibration.difficulty_
        for part in (model, difficulty):
            if "n_jobs" in part.get_params():
                # Requests already run in parallel; threads inside one call only add latency.
                part.set_params(n_jobs=1)
        cache = cache_from_environment()
        forest, reason = compile_model(model, cache)
        difficulty_forest, difficulty_reason = compile_model(difficulty, cache)
        if forest is not None and difficulty_forest is None:
            forest, reason = None, f"intervals: {difficulty_reason}"
        path: ServingPath = "compiled" if forest is not None else "fallback"
        self._loaded = LoadedModel(
            card,
            steps,
            model,
            forest,
            path,
            reason,
            difficulty,
            difficulty_forest,
            calibration,
            card.intervals,
            card.explanation_baseline,
        )
        logger.info(
            "model loaded",
            extra={"version": card.version, "serving_path": path, "path_reason": reason},
        )
        return self

    def limit_threads(self, threads: int) -> None:
        """Rate with at most `threads` threads (a worker process of a pool: one)."""
        self.cores = max(1, threads)

    @property
    def default_level(self) -> float:
        """The interval level when a caller names none (the model card's)."""
        return self.loaded.intervals.level

    def predict_many(self, movies: Sequence[MovieInput] | pd.DataFrame) -> np.ndarray:
        """Ratings for a DataFrame with the input columns, or for validated movies."""
        return self.rate_columns(_input_columns(movies))

    def predict_one(self, movie: MovieInput) -> float:
        return float(self.predict_many([movie])[0])

    def score_many(self, movies: Sequence[MovieInput] | pd.DataFrame) -> Scored:
        """Ratings and difficulties; `intervals` turns them into bounds at any level."""
        return self.score_columns(_input_columns(movies))

    def intervals(self, scored: Scored, level: float | None = None) -> np.ndarray:
        """(n, 2) bounds, within 0-10, at `level` (0-1; None: the card's default)."""
        level = self.default_level if level is None else level
        return self.loaded.calibration.bounds(scored.ratings, scored.difficulty, level)

    def explain_many(self, movies: Sequence[MovieInput] | pd.DataFrame) -> Explanations:
        """Each movie's rating as the baseline movie's plus one contribution per input field
        (`explain`); the ratings are the ones `predict_many` gives."""
        return self.explain_columns(_input_columns(movies))

    def explain_columns(self, columns: Mapping[str, np.ndarray]) -> Explanations:
        """`explain_many` of input columns."""
        return explain(
            self.rate_columns,
            columns,
            self.loaded.explanation_baseline.model_dump(),
        )

    def score_columns(self, columns: Mapping[str, np.ndarray]) -> Scored:
        """`score_many` of input columns."""
        return self._in_parts(columns, difficulty=True)

    def rate_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """`predict_many` of input columns: the ratings alone, without running the difficulty
        model that only intervals need."""
        return self._in_parts(columns, difficulty=False).ratings

    def _in_parts(self, columns: Mapping[str, np.ndarray], difficulty: bool) -> Scored:
        """Every rating depends on its own movie alone, so cutting a batch into parts changes
        none."""
        rows = len(columns[INPUT_FEATURES[0]])
        parts = min(self.cores, rows // _PART_ROWS)
        if parts <= 1:
            return self._score(columns, None, difficulty)
        bounds = np.linspace(0, rows, parts + 1).round().astype(int).tolist()
        pieces = [{k: v[a:b] for k, v in columns.items()} for a, b in itertools.pairwise(bounds)]
        scored = self._pool.map(self._score, pieces, [1] * parts, [difficulty] * parts)
        return Scored(
            np.concatenate([part.ratings for part in scored]),
            np.concatenate([part.difficulty for part in scored]),
        )

    def _score(
        self, columns: Mapping[str, np.ndarray], threads: int | None, difficulty: bool
    ) -> Scored:
        """The ratings and, if `difficulty`, the difficulty model's output (else NaN)."""
        loaded = self.loaded
        rows = len(columns[INPUT_FEATURES[0]])
        if rows == 0:
            return Scored(np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64))
        X: Any = columns
        for step in loaded.steps:
            X = step.transform(X)
        if loaded.forest is not None and loaded.difficulty_forest is not None:
            dense = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
            if threads is None and (self.cores == 1 or rows < _THREADED_ROWS):
                threads = 1
            ratings = loaded.forest.predict(dense, threads)
            hardness = loaded.difficulty_forest.predict(dense, threads) if difficulty else None
        else:
            # Inputs were validated: scikit-learn's per-call checks in the model only cost time.
            with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
                ratings = loaded.model.predict(X)
                hardness = loaded.difficulty.predict(X) if difficulty else None
        return Scored(
            clip_ratings(ratings),
            np.full(rows, np.nan) if hardness is None else np.asarray(hardness, dtype=np.float64),
        )


def _flat_steps(pipeline: Pipeline) -> list[Any]:
    """The pipeline's steps, nested pipelines opened: `Pipeline.transform` calls them in this
    order, after ~50 us of its own bookkeeping per call."""
    steps: list[Any] = []
    for _, step in pipeline.steps:
        steps.extend(_flat_steps(step) if isinstance(step, Pipeline) else [step])
    return steps


def _input_columns(movies: Sequence[MovieInput] | pd.DataFrame) -> dict[str, np.ndarray]:
    if not isinstance(movies, pd.DataFrame):
        return movies_columns(movies)
    missing = [name for name in INPUT_FEATURES if name not in movies.columns]
    if missing:
        raise MovieRatingError(f"input lacks column(s) {missing}")
    return {name: movies[name].to_numpy(dtype=object) for name in INPUT_FEATURES}


def movies_columns(movies: Sequence[MovieInput]) -> dict[str, np.ndarray]:
    """Validated movies as the pipeline's input columns (text, dates in ISO form)."""
    rows = [movie.as_row() for movie in movies]
    columns = {}
    for name in INPUT_FEATURES:
        values = np.empty(len(rows), dtype=object)
        values[:] = [row[name] for row in rows]
        columns[name] = values
    return columns
