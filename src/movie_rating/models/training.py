"""Train one cell of the pipeline x family grid: cross-validate on train, fit, predict test."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import RegressorMixin, clone
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import RECORD_ID, TARGET, VOTE_COUNT, clip_ratings
from movie_rating.evaluation.metrics import DIGITS, regression_metrics
from movie_rating.features.folds import Fold, FoldMatrices


def full_pipeline(features: Pipeline, model: RegressorMixin) -> Pipeline:
    """Features and model in one estimator: what is exported and served."""
    return Pipeline([("features", features), ("model", model)])


def fit_predict(model: RegressorMixin, fold: Fold) -> np.ndarray:
    """A fresh clone of `model` fitted on the fold's training part, predicting its held-out part."""
    fitted = clone(model).fit(fold.X_train, fold.y_train)
    return np.asarray(fitted.predict(fold.X_valid), dtype=np.float64)


def fit_predict_all(
    model: RegressorMixin, folds: list[Fold], n_jobs: int | None = None
) -> list[np.ndarray]:
    """`fit_predict` on every fold, in `n_jobs` threads (joblib's convention; None: one after
    the other). Models are seeded and single-threaded, so the predictions do not depend on
    `n_jobs`."""
    # Threads, not processes: the fits run in compiled code that releases the GIL, and a
    # worker process would first spend seconds importing scikit-learn, longer than many fits.
    return Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(fit_predict)(model, fold) for fold in folds
    )


def fold_rmse(folds: list[Fold], predicted: list[np.ndarray]) -> list[float]:
    return [
        float(root_mean_squared_error(fold.y_valid, fold_predicted))
        for fold, fold_predicted in zip(folds, predicted, strict=True)
    ]


def cv_metrics(folds: list[Fold], predicted: list[np.ndarray]) -> dict[str, float]:
    """Mean and spread of the per-fold scores, as `cross_validate` reports them."""
    rmse = fold_rmse(folds, predicted)
    r2 = [
        r2_score(fold.y_valid, fold_predicted)
        for fold, fold_predicted in zip(folds, predicted, strict=True)
    ]
    return {
        "cv_rmse_mean": round(float(np.mean(rmse)), DIGITS),
        "cv_rmse_std": round(float(np.std(rmse)), DIGITS),
        "cv_r2_mean": round(float(np.mean(r2)), DIGITS),
    }


@dataclass(frozen=True)
class CellPredictions:
    """Raw (unclipped) predictions of one model: each CV fold's held-out part, and test."""

    cv: list[np.ndarray]
    test: np.ndarray


@dataclass(frozen=True)
class CellResult:
    metrics: dict[str, Any]
    test_predictions: pd.DataFrame
    raw: CellPredictions


def predict_cell(
    model: RegressorMixin, matrices: FoldMatrices, n_jobs: int | None = None
) -> CellPredictions:
    """Fits on every CV fold and on all of train (independent jobs, see `fit_predict_all`)."""
    *held_out, on_test = fit_predict_all(model, [*matrices.cv, matrices.final], n_jobs)
    return CellPredictions(cv=held_out, test=on_test)


def score_cell(
    predictions: CellPredictions, matrices: FoldMatrices, test: pd.DataFrame
) -> CellResult:
    """CV RMSE on train's folds and, for the report, the scores on test.

    Test scores are reported for every cell but never used to choose between them.
    """
    if not np.array_equal(matrices.final.y_valid, test[TARGET].to_numpy()):
        raise ValueError("the feature matrices were built for another test split")
    metrics: dict[str, Any] = cv_metrics(matrices.cv, predictions.cv)
    predicted = clip_ratings(predictions.test)
    metrics.update(regression_metrics(test[TARGET], predicted, prefix="test_"))
    table = pd.DataFrame(
        {
            RECORD_ID: test[RECORD_ID].to_numpy(),
            VOTE_COUNT: test[VOTE_COUNT].to_numpy(),
            "actual": test[TARGET].to_numpy(),
            "predicted": np.round(predicted, DIGITS),
        }
    )
    return CellResult(metrics=metrics, test_predictions=table, raw=predictions)


def train_cell(
    model: RegressorMixin, matrices: FoldMatrices, test: pd.DataFrame, n_jobs: int | None = None
) -> CellResult:
    """One cell of the grid: `predict_cell`, then `score_cell`."""
    if not np.array_equal(matrices.final.y_valid, test[TARGET].to_numpy()):
        raise ValueError("the feature matrices were built for another test split")
    return score_cell(predict_cell(model, matrices, n_jobs), matrices, test)
