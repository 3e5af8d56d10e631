"""How much of the backtest's error no input can remove: the noise of a few votes.

A film's rating is the average of its votes. With n votes that average is its "true" rating
(what all viewers would give it) plus noise of variance s²/n, where s² is the variance of
one vote about the film's true rating. No input known before release can predict that noise,
so with perfect knowledge of every film's true rating a model would still make a squared
error of s²/n on each film: the floor of its MSE, and 1 - floor / Var(rating) the highest R²
any model can reach on those films.

The data holds averages, not single votes, so s² is estimated from the model's own errors:
E[error² | n] = e² + s²/n, a least-squares line in 1/n over the later films of a cut
(intercept e²: the error the inputs leave; slope s²). The errors are first centred within
each vote bucket: the model is biased in opposite directions on little-known films (rated
lower than it predicts) and on famous ones (rated higher), and a bias is a systematic error,
not noise; left in, it would pass for noise. What else makes films with few votes harder
still goes into the slope, so read the noise as an upper estimate and the ceiling as a
bound the model cannot pass, not a number it could reach.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from movie_rating.evaluation.comparison import vote_bucket_labels
from movie_rating.evaluation.metrics import DIGITS


def vote_variance(errors: ArrayLike, votes: ArrayLike, edges: Sequence[int] = (1,)) -> float:
    """s²: the slope of error² on 1/votes (least squares with an intercept), at least 0; each
    error first less the mean error of its vote bucket (`edges`)."""
    errors, votes = np.asarray(errors, dtype=float), np.asarray(votes, dtype=float)
    buckets = np.digitize(votes, list(edges))
    centred = errors - pd.Series(errors).groupby(buckets).transform("mean").to_numpy()
    squared = centred**2
    inverse = 1.0 / votes
    if len(squared) < 3 or np.ptp(inverse) == 0:
        return float("nan")
    design = np.column_stack([np.ones_like(inverse), inverse])
    (_, slope), *_ = np.linalg.lstsq(design, squared, rcond=None)
    return max(float(slope), 0.0)


def ceiling_rows(
    actual: ArrayLike, predicted: ArrayLike, votes: ArrayLike, edges: Sequence[int]
) -> list[dict[str, Any]]:
    """Per vote bucket (cut at `edges`, then every film): films, the model's RMSE and R², the
    RMSE the votes' noise alone puts in the ratings, its share of the model's squared error,
    and the R² ceiling. s² is estimated once, on every film given."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    votes = np.asarray(votes, dtype=float)
    errors = actual - predicted
    variance = vote_variance(errors, votes, edges)
    noise = variance / votes
    positions = np.digitize(votes, list(edges)) - 1  # edges[0] is the smallest vote count
    groups = [(label, positions == i) for i, label in enumerate(vote_bucket_labels(edges))]
    rows = []
    for label, mask in [*groups, ("all", np.ones(len(actual), dtype=bool))]:
        films = int(mask.sum())
        if films < 2:
            continue
        mse, floor = float(np.mean(errors[mask] ** 2)), float(np.mean(noise[mask]))
        spread = float(np.var(actual[mask]))
        rows.append(
            {
                "votes": label,
                "films": films,
                "rmse": round(mse**0.5, DIGITS),
                "noise_rmse": round(floor**0.5, DIGITS),
                "noise_share": round(floor / mse, DIGITS),
                "r2": round(1 - mse / spread, DIGITS),
                "r2_ceiling": round(1 - floor / spread, DIGITS),
                "vote_sd": round(variance**0.5, DIGITS),
            }
        )
    return rows


def ceiling_table(
    predictions: pd.DataFrame, edges: Sequence[int], actual: str, predicted: str, votes: str
) -> pd.DataFrame:
    """`ceiling_rows` for each cut year of `predictions` (one row per later film and cut,
    with a `cut_year` column), one block of rows per cut."""
    rows = []
    for cut, films in predictions.groupby("cut_year", sort=True):
        for row in ceiling_rows(films[actual], films[predicted], films[votes], edges):
            rows.append({"cut_year": cut, **row})
    return pd.DataFrame(rows)


def ceiling_markdown(table: pd.DataFrame) -> str:
    """The ceiling table for a report."""
    header = (
        "| films released in or after | votes | films | RMSE | noise RMSE | noise share of MSE "
        "| R² | R² ceiling |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in table.to_dict("records"):
        cells = [
            str(row["cut_year"]),
            str(row["votes"]),
            str(row["films"]),
            f"{row['rmse']:.3f}",
            f"{row['noise_rmse']:.3f}",
            f"{row['noise_share']:.0%}",
            f"{row['r2']:.3f}",
            f"{row['r2_ceiling']:.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    sds = table.drop_duplicates("cut_year")
    estimated = ", ".join(f"{r['cut_year']}: {r['vote_sd']:.2f}" for r in sds.to_dict("records"))
    return (
        "\n".join(lines)
        + f"\n\nEstimated SD of one vote about a film's true rating, per cut: {estimated}.\n"
    )
