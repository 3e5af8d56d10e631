"""`models/MODEL_CARD.md`: the model card people read, written by `export` beside the JSON.

Laid out like a Hugging Face model card (YAML metadata, then intended and out-of-scope use,
data and provenance, evaluation, limitations, how to reproduce). Every number comes from a
committed pipeline output: the JSON card (`model_card.json`: the random split), the temporal
backtest table (`reports/backtest.csv`), the test error by vote count
(`reports/plots/error_by_vote_count.csv`) and the intervals' coverage by vote count
(`reports/intervals.csv`), so the two cards cannot disagree and a pull request shows the
change in both.
"""

from dataclasses import dataclass

import pandas as pd

from movie_rating.artifact import ModelCard

TITLE_INPUTS = "release date, title, overview, genres and original language"


@dataclass(frozen=True)
class Provenance:
    """Where the training data came from (params.yaml `ingest`)."""

    source_url: str
    sha256: str


def _metrics_table(card: ModelCard) -> str:
    m = card.metrics
    return "\n".join(
        [
            "| protocol | RMSE | MAE | R² |",
            "|---|---:|---:|---:|",
            f"| 5-fold CV on the train split (chose the model) | {m['cv_rmse_mean']:.3f} ± "
            f"{m['cv_rmse_std']:.3f} | | {m['cv_r2_mean']:.3f} |",
            f"| test split (20 %, random; never used to choose) | {m['test_rmse']:.3f} "
            f"| {m['test_mae']:.3f} | {m['test_r2']:.3f} |",
        ]
    )


def _backtest_table(backtest: pd.DataFrame, min_votes: int) -> str:
    lines = [
        f"| cut year | films scored (≥ {min_votes} votes) | RMSE | R² | bias "
        f"| R² (≥ {min_votes} votes) | bias (≥ {min_votes} votes) | seed design R² "
        "| training mean RMSE |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in backtest.to_dict("records"):
        lines.append(
            f"| {row['cut_year']} | {row['all_films']} ({row['rated_films']}) "
            f"| {row['winner_all_rmse']:.3f} | {row['winner_all_r2']:.3f} "
            f"| {row['winner_all_bias']:+.3f} | {row['winner_rated_r2']:.3f} "
            f"| {row['winner_rated_bias']:+.3f} | {row['seed_design_all_r2']:.3f} "
            f"| {row['baseline_all_rmse']:.3f} |"
        )
    return "\n".join(lines)


def _votes_table(by_votes: pd.DataFrame) -> str:
    lines = ["| votes | test films | RMSE | MAE |", "|---|---:|---:|---:|"]
    for row in by_votes.to_dict("records"):
        lines.append(f"| {row['votes']} | {row['movies']} | {row['rmse']:.3f} | {row['mae']:.3f} |")
    return "\n".join(lines)


def _intervals_table(coverage: pd.DataFrame) -> str:
    lines = [
        "| votes (test films) | films | coverage | mean width | interval score "
        "| one width for all: coverage | width | interval score |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in coverage.to_dict("records"):
        cells = [str(row["films"]), str(row["count"])]
        for kind in ("adaptive", "constant_width"):
            cells += [
                f"{row[f'{kind}_coverage']:.1%}",
                f"{row[f'{kind}_mean_width']:.2f}",
                f"{row[f'{kind}_winkler']:.3f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _intervals_section(card: ModelCard, coverage: pd.DataFrame, backtest: pd.DataFrame) -> str:
    intervals = card.intervals
    if intervals is None:
        return "Not recorded for this model."
    by_cut = ", ".join(
        f"{row['cut_year']}: {row['winner_all_coverage']:.0%}"
        for row in backtest.to_dict("records")
    )
    level = f"{intervals.level:.0%}"
    return f"""Every prediction comes with an interval, at level {level} unless a client asks for
another: {intervals.method}, on {intervals.folds} folds. Its width follows how
hard the film looks, so the interval score (width, plus 2 / (1 - level) times any miss; lower
is better) is compared with one width for all.

{_intervals_table(coverage)}

On films released after each backtest cut year, the share of ratings inside their interval:
{by_cut} (nominal {level}). Films with few votes fall outside far more often:
their rating is a handful of opinions."""


def _direction(biases: pd.Series) -> str:
    if (biases < 0).all():
        return "under-predicts after every cut"
    if (biases > 0).all():
        return "over-predicts after every cut"
    return "errs both ways, depending on the cut"


def render_model_card(
    card: ModelCard,
    provenance: Provenance,
    backtest: pd.DataFrame,
    by_votes: pd.DataFrame,
    coverage: pd.DataFrame,
    min_votes: int,
) -> str:
    """The Markdown card of the exported model."""
    first, last = backtest["cut_year"].min(), backtest["cut_year"].max()
    mean = backtest.mean(numeric_only=True)
    few = by_votes.iloc[0]
    ends = backtest.set_index("cut_year")["winner_all_rmse"]
    return f"""---
license: other
library_name: sklearn
pipeline_tag: tabular-regression
tags: [tmdb, movies, rating-regression, dvc]
metrics: [rmse, mae, r2]
---

# {card.name}

Predicts a movie's TMDB rating (`{card.target}`, 0-10) from what is known before release:
{TITLE_INPUTS}. Feature pipeline `{card.feature_pipeline}`, model `{card.model_family}`.
Artifact `{card.artifact.path}`, sha256 `{card.artifact.sha256}`; the same numbers, as JSON, in
`model_card.json` beside this file. Written by the `export` stage; do not edit by hand.

## Intended use

- A first estimate of how TMDB voters will rate a film, before it is released: to sort or
  flag titles, or as one input among others.
- Served by `movie-rating serve` (HTTP) and `movie-rating predict` (one movie or a CSV).

## Out-of-scope use

- A measure of a film's quality, or any decision about the people who made it.
- Films unlike the training data (TMDB's ~9,000 most popular titles): short films, TV,
  films with no overview. The model still answers; its error there is unmeasured.
- Ranking films by small differences: a typical error (RMSE) of
  {card.metrics["test_rmse"]:.2f} points is larger than most gaps between films.

## Training data and provenance

- Source: the TMDB "9000+ movies" list, `{provenance.source_url}`,
  sha256 `{provenance.sha256}` (checked by the `ingest` stage).
- Cleaning quarantines unparseable records and drops films nobody rated (their 0.0 is a
  placeholder); split 80/20 at random. Trained on `{card.training_data.path}`:
  {card.training_data.rows} films, sha256 `{card.training_data.sha256}`.
- Inputs: {", ".join(f"`{name}`" for name in card.input_features)}. Never popularity, vote
  count or poster: they are not known before release.

## Evaluation

### Random split

{_metrics_table(card)}

### Temporal backtest: films released after the training data

Refitted, with these settings, on every film released before each cut year and scored on
every film released in it or later; bias = mean predicted - actual. On all later films the
mean R² over {first}-{last} is {mean["winner_all_r2"]:.3f} (random split: \
{card.metrics["test_r2"]:.3f}).

{_backtest_table(backtest, min_votes)}

### By number of votes (test split)

{_votes_table(by_votes)}

### Prediction intervals

{_intervals_section(card, coverage, backtest)}

## Limitations

- **Little-known films.** Films with {few["votes"]} votes have a test RMSE of
  {few["rmse"]:.2f}: their rating is the opinion of a handful of voters, which no input can
  predict, and how many votes a film will get is not known before release.
- **New films.** The backtest's mean R² is {mean["winner_all_r2"] / card.metrics["test_r2"]:.0%}
  of the random split's; its RMSE goes from {ends[first]:.2f} after {first} to {ends[last]:.2f}
  after {last}. On films with ≥ {min_votes} votes the model
  {_direction(backtest["winner_rated_bias"])} (bias {mean["winner_rated_bias"]:+.2f} on average).
- **What it never sees:** cast, crew, budget, runtime, marketing, reviews, sequels' history,
  box office. Titles and overviews are read as words (TF-IDF), not understood.
- The data ends in 2022 and covers popular titles only.

## How to reproduce

```bash
uv sync && uv run dvc repro      # rebuilds this card and the artifact from the raw CSV
uv run dvc metrics diff main     # what a change did to these numbers
```

Libraries: {", ".join(f"{name} {version}" for name, version in card.libraries.items())}.
Created {card.created_at}.
"""
