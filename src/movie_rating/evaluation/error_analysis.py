"""Where a model's errors are: by vote count, genre and decade, out-of-fold and on test.

Input frames hold one row per movie with ``actual``, ``predicted``, ``vote_count``, ``genre`` and
``release_date``. ``vote_count`` is known only after release: it is used here to explain errors,
never as a model input.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from movie_rating.data.schema import VOTE_COUNT
from movie_rating.features.columns import parse_release_dates, release_years

FEW_VOTES = 50
"""Below this many votes a TMDB average is a handful of opinions, not a consensus."""


def _scores(frame: pd.DataFrame, reference_mean: float) -> dict[str, float]:
    residual = frame["actual"] - frame["predicted"]
    return {
        "movies": len(frame),
        "rmse": float(np.sqrt(np.mean(residual**2))),
        "mae": float(np.mean(np.abs(residual))),
        "bias": float(np.mean(residual)),
        # What predicting the training mean would score on the same movies: the bar to beat.
        "rmse_of_mean": float(np.sqrt(np.mean((frame["actual"] - reference_mean) ** 2))),
        "share_of_squared_error": float(np.sum(residual**2)),
        "few_votes": float(np.mean(frame[VOTE_COUNT] < FEW_VOTES)),
    }


def error_table(
    frame: pd.DataFrame, groups: pd.Series, reference_mean: float, min_movies: int = 1
) -> pd.DataFrame:
    """Scores per group (a label per row of ``frame``), largest groups first."""
    total = float(np.sum((frame["actual"] - frame["predicted"]) ** 2))
    rows = []
    for label, subset in frame.groupby(groups.to_numpy(), sort=False):
        if len(subset) >= min_movies:
            rows.append({"group": label, **_scores(subset, reference_mean)})
    table = pd.DataFrame(rows).sort_values(["movies", "group"], ascending=[False, True])
    table["share_of_squared_error"] = table["share_of_squared_error"] / total
    return table.reset_index(drop=True)


def vote_bucket(frame: pd.DataFrame, threshold: int = FEW_VOTES) -> pd.Series:
    return pd.Series(
        np.where(frame[VOTE_COUNT] < threshold, f"<{threshold}", f">={threshold}"),
        index=frame.index,
    )


def decade(frame: pd.DataFrame) -> pd.Series:
    years = pd.Series(release_years(parse_release_dates(frame["release_date"])), index=frame.index)
    labels = (years // 10 * 10).astype("Int64").astype(str) + "s"
    return labels.where(years.notna(), "unknown")


def genre_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """One row per (movie, genre) pair: a movie counts once in each of its genres."""
    genres = frame["genre"].fillna("").str.split(",")
    exploded = frame.assign(_genre=genres).explode("_genre")
    labels = exploded["_genre"].str.strip()
    keep = labels != ""
    return exploded[keep].drop(columns="_genre"), labels[keep]


def _markdown(table: pd.DataFrame, columns: Sequence[str]) -> str:
    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" if c == "group" else "---:" for c in columns) + "|"
    body = ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for _, row in table.iterrows()]
    return "\n".join([header, rule, *body])


COLUMNS = (
    "group",
    "movies",
    "rmse",
    "rmse_of_mean",
    "mae",
    "bias",
    "share_of_squared_error",
    "few_votes",
)


def breakdown(frame: pd.DataFrame, reference_mean: float) -> dict[str, pd.DataFrame]:
    """The three tables of the report for one set of predictions."""
    by_genre_frame, genre_labels = genre_rows(frame)
    return {
        "vote count": error_table(frame, vote_bucket(frame), reference_mean),
        "decade": error_table(frame, decade(frame), reference_mean, min_movies=20),
        "genre (a movie counts in each of its genres)": error_table(
            by_genre_frame, genre_labels, reference_mean, min_movies=20
        ),
    }


def render_report(
    title: str,
    intro: str,
    sections: dict[str, pd.DataFrame],
    reference_mean: float,
) -> str:
    """Markdown: an overall line and the breakdown tables for each named prediction set."""
    lines = [f"# {title}", "", intro, ""]
    for name, frame in sections.items():
        overall = _scores(frame, reference_mean)
        lines += [
            f"## {name}",
            "",
            f"{overall['movies']} movies: RMSE {overall['rmse']:.3f} (predicting the training "
            f"mean: {overall['rmse_of_mean']:.3f}), MAE {overall['mae']:.3f}.",
            "",
        ]
        tables = breakdown(frame, reference_mean)
        lines += _cannot_know(tables["vote count"])
        for label, table in tables.items():
            lines += [f"### By {label}", "", _markdown(table, COLUMNS), ""]
    return "\n".join(lines)


def _cannot_know(by_votes: pd.DataFrame) -> list[str]:
    """The part of the error no pre-release feature can remove, stated from the numbers."""
    few = by_votes.set_index("group").loc[f"<{FEW_VOTES}"]
    many = by_votes.set_index("group").loc[f">={FEW_VOTES}"]
    share_movies = few["movies"] / by_votes["movies"].sum()
    return [
        "### What the model cannot know",
        "",
        f"- Movies with fewer than {FEW_VOTES} votes are {share_movies:.0%} of these movies but "
        f"{few['share_of_squared_error']:.0%} of the squared error: RMSE {few['rmse']:.3f} "
        f"against {few['rmse_of_mean']:.3f} for predicting the mean, bias (mean actual - "
        f"predicted) {few['bias']:+.3f}. Their average is a few opinions; how "
        "many votes a movie will get is known only after release, so it cannot be an input.",
        f"- On movies with at least {FEW_VOTES} votes the RMSE is {many['rmse']:.3f}.",
        "- The inputs are release date, title, overview, genre and original language: nothing "
        "about cast, director, budget, studio, runtime or reception: none of it is in the data.",
        "",
    ]
