"""Stage backtest: refit the winner, the seed design and the mean at each cut year."""

import argparse
import json
from pathlib import Path

import pandas as pd

from movie_rating.backtest.ceiling import ceiling_markdown, ceiling_table
from movie_rating.backtest.temporal import (
    SEED_DESIGN,
    WINNER,
    BacktestParams,
    Contender,
    backtest,
    intervals_markdown,
    summary,
    to_markdown,
)
from movie_rating.cli import run_cli
from movie_rating.data.schema import VOTE_COUNT
from movie_rating.data.split import read_movies, write_movies
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.intervals.conformal import IntervalParams
from movie_rating.outputs import write_json, write_text
from movie_rating.params import BaseParams, load_params, parse_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--winner", type=Path, required=True)
    parser.add_argument("--winner-hyperparameters", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True, help="CSV, one row per cut year")
    parser.add_argument("--markdown", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument(
        "--jobs", type=int, default=-1, help="refits run in parallel (-1: one per core)"
    )
    args = parser.parse_args()

    params = load_params(args.params)
    settings = parse_section(params, "backtest", BacktestParams)
    seed = parse_section(params, "base", BaseParams).seed
    intervals = parse_section(params, "intervals", IntervalParams)
    winner = json.loads(args.winner.read_text(encoding="utf-8"))
    seed_design = settings.seed_design
    contenders = [
        Contender(
            WINNER,
            build_feature_pipeline(winner["pipeline"], params["featurize"]),
            winner["family"],
            json.loads(args.winner_hyperparameters.read_text(encoding="utf-8")),
            intervals,
        ),
        Contender(
            SEED_DESIGN,
            build_feature_pipeline(seed_design.pipeline, params["featurize"]),
            seed_design.family,
            params["models"].get(seed_design.family) or {},
        ),
    ]
    # Every clean film: the random split does not matter here, the release date does.
    movies = pd.concat([read_movies(args.train), read_movies(args.test)], ignore_index=True)
    result = backtest(movies, contenders, settings, seed, args.jobs)
    table = result.table
    winner_predictions = result.predictions[result.predictions["contender"] == WINNER]
    ceiling = ceiling_table(
        winner_predictions, settings.vote_buckets, "actual", "predicted", VOTE_COUNT
    )

    names = [contender.name for contender in contenders]
    write_movies(table, args.table)
    coverage = intervals_markdown(table, WINNER, intervals.level, settings.min_votes)
    write_text(
        args.markdown,
        f"{to_markdown(table, names, settings.min_votes)}\n"
        f"Prediction intervals of the {WINNER}, per cut:\n\n{coverage}\n"
        f"What no input can remove: the {WINNER}'s error beside the noise that a film's vote "
        "count alone puts in its rating, per bucket of vote counts (movie_rating.backtest."
        f"ceiling):\n\n{ceiling_markdown(ceiling)}",
    )
    write_json(args.metrics, summary(table, WINNER))


if __name__ == "__main__":
    run_cli(main)
