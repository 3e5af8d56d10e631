"""Train one cell of the pipeline x family grid: cross-validate on train, fit, predict test."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import RECORD_ID, TARGET, VOTE_COUNT
from movie_rating.evaluation.metrics import DIGITS, clip_ratings, regression_metrics


def cell_name(pipeline: str, family: str) -> str:
    """The name DVC gives the matrix cell (`train@<pipeline>-<family>`)."""
    return f"{pipeline}-{family}"


def full_pipeline(features: Pipeline, model: RegressorMixin) -> Pipeline:
    """Features and model in one estimator, so CV refits TF-IDF inside each fold."""
    return Pipeline([("features", features), ("model", model)])


def cross_validated_rmse(
    estimator: Pipeline, train: pd.DataFrame, folds: int, seed: int
) -> dict[str, float]:
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_validate(
        estimator,
        train,
        train[TARGET].to_numpy(),
        cv=splitter,
        scoring=("neg_root_mean_squared_error", "r2"),
    )
    rmse = -scores["test_neg_root_mean_squared_error"]
    return {
        "cv_rmse_mean": round(float(np.mean(rmse)), DIGITS),
        "cv_rmse_std": round(float(np.std(rmse)), DIGITS),
        "cv_r2_mean": round(float(np.mean(scores["test_r2"])), DIGITS),
    }


@dataclass(frozen=True)
class CellResult:
    metrics: dict[str, Any]
    test_predictions: pd.DataFrame


def train_cell(
    estimator: Pipeline, train: pd.DataFrame, test: pd.DataFrame, folds: int, seed: int
) -> CellResult:
    """CV RMSE on train, then one fit on all of train, scored on test for the report.

    Test scores are reported for every cell but never used to choose between them.
    """
    metrics: dict[str, Any] = cross_validated_rmse(estimator, train, folds, seed)
    estimator.fit(train, train[TARGET].to_numpy())
    predicted = clip_ratings(estimator.predict(test))
    metrics.update(regression_metrics(test[TARGET], predicted, prefix="test_"))
    predictions = pd.DataFrame(
        {
            RECORD_ID: test[RECORD_ID].to_numpy(),
            VOTE_COUNT: test[VOTE_COUNT].to_numpy(),
            "actual": test[TARGET].to_numpy(),
            "predicted": np.round(predicted, DIGITS),
        }
    )
    return CellResult(metrics=metrics, test_predictions=predictions)
