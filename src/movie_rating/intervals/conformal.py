"""Prediction intervals: the exported model, and how far to trust each of its predictions.

`ConformalRegressor` wraps a regressor. Its `predict` is the wrapped model's, fitted on all
rows; fitting it also learns, from out-of-fold residuals, an interval for every prediction:

1. Out-of-fold predictions on k seeded folds give each training film an honest residual.
2. A difficulty model (a small LightGBM by default) learns |residual| from the same features,
   again out of fold, so each film's difficulty is estimated by a model that never saw it.
3. The residuals divided by those difficulties are the conformity scores (normalised
   conformal prediction; crepes computes their quantile). An interval at level L is
   prediction ± q_L x difficulty: wide for a film like the ones the model got wrong, narrow
   for one like those it got right. `constant_` keeps the same calibration without the
   difficulty (one width for all), for comparison.

The centre is the model refit on all rows, not the k fold models (MAPIE's `method="base"`
cross-conformal, not CV+): serving then runs one model, not k. CV+'s guarantee does not
cover this variant, so coverage is measured, on the test split and on the temporal backtest.

crepes (`ConformalRegressor`) does the calibration; MAPIE 1.6 was not used because its
regressors fix the confidence level at construction, while a client chooses it per request.
"""

from typing import Any

import numpy as np
from crepes import ConformalRegressor as CrepesRegressor
from lightgbm import LGBMRegressor
from numpy.typing import ArrayLike
from pydantic import Field
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from movie_rating.data.schema import RATING_RANGE, clip_ratings
from movie_rating.params import StrictParams


class IntervalParams(StrictParams):
    """params.yaml `intervals` (stages export and backtest)."""

    level: float = Field(gt=0.0, lt=1.0)  # the default a client may override per request
    folds: int = Field(ge=2)
    min_difficulty: float = Field(gt=0.0)


def default_difficulty(seed: int) -> LGBMRegressor:
    """A shallow, slow-learning forest: difficulty is a smooth, noisy signal."""
    return LGBMRegressor(
        n_estimators=200,
        learning_rate=0.03,
        num_leaves=8,
        min_child_samples=80,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )


class Calibration(CrepesRegressor):
    """crepes' conformal regressor, pickled without the wall-clock timings it records at every
    fit and predict (`time_fit`, `time_predict`): with them, two exports of the same model
    would differ byte for byte, and the rebuild would not reproduce `dvc.lock`."""

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "time_fit": None, "time_predict": None}


class ConformalRegressor(RegressorMixin, BaseEstimator):
    """`estimator`'s predictions, with normalised conformal intervals (module docstring).

    Parameters: `estimator`, the point model; `difficulty`, a regressor of |residual| (None:
    `default_difficulty(random_state)`); `cv`, the number of seeded folds; `min_difficulty`,
    the floor under every difficulty estimate (rating points), so no interval collapses.
    """

    def __init__(
        self,
        estimator: Any,
        difficulty: Any = None,
        cv: int = 5,
        random_state: int = 0,
        min_difficulty: float = 0.1,
    ) -> None:
        self.estimator = estimator
        self.difficulty = difficulty
        self.cv = cv
        self.random_state = random_state
        self.min_difficulty = min_difficulty

    def fit(self, X: Any, y: ArrayLike) -> "ConformalRegressor":
        y = np.asarray(y, dtype=np.float64)
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        residuals = y - cross_val_predict(clone(self.estimator), X, y, cv=folds)
        difficulty = (
            default_difficulty(self.random_state) if self.difficulty is None else self.difficulty
        )
        spread = np.abs(residuals)
        sigmas = self.sigmas(cross_val_predict(clone(difficulty), X, spread, cv=folds))
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.difficulty_ = clone(difficulty).fit(X, spread)
        self.adaptive_ = Calibration().fit(residuals, sigmas=sigmas)
        self.constant_ = Calibration().fit(residuals)
        self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict(X), dtype=np.float64)

    def sigmas(self, raw: ArrayLike) -> np.ndarray:
        """The difficulty model's raw output as difficulties: never below the floor."""
        return np.maximum(np.asarray(raw, dtype=np.float64), self.min_difficulty)

    def bounds(
        self, predicted: ArrayLike, raw_difficulty: ArrayLike | None, level: float
    ) -> np.ndarray:
        """(n, 2) interval bounds, within the rating scale, around `predicted` at `level`
        (0-1), from the difficulty model's raw output (None: the constant width)."""
        check_is_fitted(self, "adaptive_")
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be between 0 and 1, got {level}")
        low, high = RATING_RANGE
        if raw_difficulty is None:
            calibrated, sigmas = self.constant_, None
        else:
            calibrated, sigmas = self.adaptive_, self.sigmas(raw_difficulty)
        return np.asarray(
            calibrated.predict_int(
                np.asarray(predicted, dtype=np.float64),
                sigmas=sigmas,
                confidence=level,
                y_min=low,
                y_max=high,
            ),
            dtype=np.float64,
        )

    def predict_interval(
        self, X: Any, level: float, adaptive: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """This model's ratings (clipped to the scale) and their (n, 2) bounds at `level`
        (like MAPIE's `predict(X, alpha)`); `adaptive=False`: one width for all."""
        predicted = clip_ratings(self.predict(X))
        raw = self.difficulty_.predict(X) if adaptive else None
        return predicted, self.bounds(predicted, raw, level)


def with_intervals(model: Any, params: IntervalParams, seed: int) -> ConformalRegressor:
    """`model` wrapped to learn its intervals as configured (seeded like every fold)."""
    return ConformalRegressor(
        model, cv=params.folds, random_state=seed, min_difficulty=params.min_difficulty
    )


def point_pipeline(pipeline: Pipeline) -> Pipeline:
    """A fitted pipeline ending in a `ConformalRegressor`, ending in its point model instead
    (for what reads the model itself, such as its feature importance)."""
    *steps, (name, last) = pipeline.steps
    return Pipeline([*steps, (name, last.estimator_)])
