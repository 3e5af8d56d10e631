"""Temporal validation inside the training split: the backtest's question, asked without the
test split, so that it may choose a model.

At each cut year the whole estimator (feature pipeline and model) is fitted on the training
films released before the cut and scores the training films released in it or later; the
score is the RMSE averaged over the cuts. The test split never takes part, so ranking models
by it breaks no rule; the temporal backtest (stage backtest) scores the later films of both
splits, so once this score has chosen the winner the backtest's later training films have
been seen by the choice, and only its test films stay an independent check.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import root_mean_squared_error
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import TARGET, clip_ratings
from movie_rating.data.split import release_year
from movie_rating.evaluation.metrics import DIGITS


def _cut_rmse(estimator: Pipeline, before: pd.DataFrame, after: pd.DataFrame) -> float:
    fitted = clone(estimator).fit(before, before[TARGET].to_numpy())
    return float(root_mean_squared_error(after[TARGET], clip_ratings(fitted.predict(after))))


def temporal_rmse(
    estimator: Pipeline, train: pd.DataFrame, cut_years: Sequence[int], n_jobs: int | None = None
) -> float:
    """The RMSE on `train`'s films released in or after each cut year, of `estimator` fitted
    on those released before it, averaged over the cuts (each counts the same). Fits run
    `n_jobs` at a time in threads; the score does not depend on it."""
    years = release_year(train).to_numpy()
    splits = [(train[years < cut], train[years >= cut]) for cut in cut_years]
    for cut, (before, after) in zip(cut_years, splits, strict=True):
        if len(before) < 2 or len(after) < 2:
            raise ValueError(f"temporal cut {cut}: {len(before)} films before, {len(after)} after")
    scores = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_cut_rmse)(estimator, before, after) for before, after in splits
    )
    return round(float(np.mean(scores)), DIGITS)
