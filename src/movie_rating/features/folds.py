"""A feature pipeline fitted once per cross-validation fold, and once on all of train.

Every model family of the grid is scored on the same folds of the same pipeline. Fitting the
pipeline inside each family's CV (TF-IDF vocabularies, v5's out-of-fold ridges) would repeat
identical work once per family; fitting it here once per fold and handing the matrices to each
family gives the very numbers a `Pipeline` cross-validation would (tests compare the two).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import TARGET


@dataclass(frozen=True)
class Fold:
    """Features fitted on one part of the data (`X_train`) and applied to the part held out."""

    X_train: Any
    y_train: np.ndarray
    X_valid: Any
    y_valid: np.ndarray


@dataclass(frozen=True)
class FoldMatrices:
    """The k CV folds of train, and the pipeline fitted on all of train applied to test."""

    cv: list[Fold]
    final: Fold


def fit_fold(
    features: Pipeline, fit_on: pd.DataFrame, held_out: pd.DataFrame
) -> tuple[Fold, Pipeline]:
    """The fold's matrices, and the clone of `features` fitted on `fit_on` that made them."""
    fitted = clone(features)
    y_train, y_valid = fit_on[TARGET].to_numpy(), held_out[TARGET].to_numpy()
    X_train = fitted.fit_transform(fit_on, y_train)
    return Fold(X_train, y_train, fitted.transform(held_out), y_valid), fitted


def cv_folds(
    features: Pipeline, train: pd.DataFrame, folds: int, seed: int, n_jobs: int | None = None
) -> list[Fold]:
    """The pipeline fitted on each fold's training part of a shuffled, seeded `KFold`.

    Folds are fitted in `n_jobs` worker processes (joblib's convention; None: one after the
    other, here); every step is seeded, so the matrices do not depend on it.
    """
    return [fold for fold, _ in _fit_all(features, _splits(train, folds, seed), n_jobs)]


def fold_matrices(
    features: Pipeline,
    train: pd.DataFrame,
    test: pd.DataFrame,
    folds: int,
    seed: int,
    n_jobs: int | None = None,
) -> tuple[FoldMatrices, Pipeline]:
    """`cv_folds` and the final fit on all of train applied to `test`, in one parallel batch;
    with the pipeline fitted on all of train."""
    *cv, (final, fitted) = _fit_all(features, [*_splits(train, folds, seed), (train, test)], n_jobs)
    return FoldMatrices(cv=[fold for fold, _ in cv], final=final), fitted


def _splits(train: pd.DataFrame, folds: int, seed: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    return [(train.iloc[fit], train.iloc[held]) for fit, held in splitter.split(train)]


def _fit_all(
    features: Pipeline, parts: list[tuple[pd.DataFrame, pd.DataFrame]], n_jobs: int | None
) -> list[tuple[Fold, Pipeline]]:
    # max_nbytes=None: workers get private copies, not read-only memory maps, of the frames.
    return Parallel(n_jobs=n_jobs, max_nbytes=None)(
        delayed(fit_fold)(features, fit_on, held_out) for fit_on, held_out in parts
    )
