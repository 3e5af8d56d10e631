"""How good intervals are: coverage, mean width and the Winkler (interval) score.

The Winkler score of an interval [low, high] at level L for a rating y is its width, plus
2 / (1 - L) times the distance by which y falls outside it: lower is better, and a narrow
interval that misses pays for it. It is what says whether adaptive widths beat one width.
"""

from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import TARGET
from movie_rating.evaluation.metrics import DIGITS
from movie_rating.intervals.conformal import IntervalParams

ADAPTIVE, CONSTANT = "adaptive", "constant_width"  # the interval kinds of every table
SCORES: Final = ("coverage", "mean_width", "winkler")
METHOD: Final = "normalised cross-conformal (out-of-fold residuals, LightGBM difficulty)"


def interval_scores(actual: ArrayLike, bounds: ArrayLike, level: float) -> dict[str, float]:
    """Coverage (share of ratings inside), mean width and mean Winkler score."""
    y = np.asarray(actual, dtype=np.float64)
    low, high = np.asarray(bounds, dtype=np.float64).T
    if len(y) == 0:
        return dict.fromkeys(SCORES, float("nan"))
    miss = np.maximum(low - y, 0.0) + np.maximum(y - high, 0.0)
    winkler = (high - low) + 2.0 / (1.0 - level) * miss
    return {
        "coverage": round(float(np.mean(miss == 0.0)), DIGITS),
        "mean_width": round(float(np.mean(high - low)), DIGITS),
        "winkler": round(float(np.mean(winkler)), DIGITS),
    }


def interval_table(
    actual: ArrayLike, bounds: dict[str, ArrayLike], groups: pd.Series, level: float
) -> pd.DataFrame:
    """One row per group (and one for all films): films, then each interval kind's
    `<kind>_coverage`, `<kind>_mean_width` and `<kind>_winkler`."""
    y = np.asarray(actual, dtype=np.float64)
    labels = groups.to_numpy()
    rows = []
    for label in ["all", *sorted(set(labels))]:
        mask = np.ones(len(y), bool) if label == "all" else labels == label
        row: dict[str, object] = {"films": label, "count": int(mask.sum())}
        for kind, values in bounds.items():
            scored = interval_scores(y[mask], np.asarray(values)[mask], level)
            row |= {f"{kind}_{name}": value for name, value in scored.items()}
        rows.append(row)
    return pd.DataFrame(rows)


def test_intervals(
    estimator: Pipeline, test: pd.DataFrame, level: float, groups: pd.Series
) -> pd.DataFrame:
    """`interval_table` of a fitted pipeline ending in a `ConformalRegressor` on `test`: its
    adaptive intervals beside one width for all (the same calibration)."""
    wrapped = estimator[-1]
    predicted, adaptive = wrapped.predict_interval(estimator[:-1].transform(test), level)
    bounds = {ADAPTIVE: adaptive, CONSTANT: wrapped.bounds(predicted, None, level)}
    return interval_table(test[TARGET], bounds, groups, level)


def card_section(
    table: pd.DataFrame, params: IntervalParams, backtest_coverage: float | None
) -> dict[str, Any]:
    """The model card's `intervals` (artifact.Intervals) from `test_intervals`' table."""
    everything = next(row for row in table.to_dict("records") if row["films"] == "all")
    return {
        "method": METHOD,
        "level": params.level,
        "folds": params.folds,
        "test": {m: float(everything[f"{ADAPTIVE}_{m}"]) for m in SCORES},
        "test_constant_width": {m: float(everything[f"{CONSTANT}_{m}"]) for m in SCORES},
        "backtest_coverage": backtest_coverage,
    }
