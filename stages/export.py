"""Stage export: refit the winning cell (tuned or not) on train; write the artifact + cards."""

import argparse
import json
from pathlib import Path

import joblib
import pandas as pd

from movie_rating.artifact import save_model
from movie_rating.backtest.temporal import WINNER, BacktestParams, card_entry
from movie_rating.cli import run_cli
from movie_rating.data.schema import TARGET
from movie_rating.data.split import read_movies, write_movies
from movie_rating.evaluation.error_analysis import vote_bucket
from movie_rating.evaluation.metrics import DIGITS
from movie_rating.intervals.conformal import IntervalParams, point_pipeline, with_intervals
from movie_rating.intervals.scores import SCORES, card_section, test_intervals
from movie_rating.models.export import (
    card_fields,
    explanation_baseline,
    feature_importance,
    read_winner,
)
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.outputs import write_json, write_text
from movie_rating.params import BaseParams, IngestParams, load_params, parse_section
from movie_rating.reporting.model_card import Provenance, render_model_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--winner", type=Path, required=True)
    parser.add_argument("--winner-hyperparameters", type=Path, required=True)
    parser.add_argument("--features-dir", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True, help="artifact (card beside it)")
    parser.add_argument("--importance", type=Path, required=True)
    parser.add_argument("--backtest", type=Path, required=True, help="the backtest's table")
    parser.add_argument("--backtest-metrics", type=Path, required=True)
    parser.add_argument("--error-by-votes", type=Path, required=True)
    parser.add_argument("--readable-card", type=Path, required=True, help="MODEL_CARD.md")
    parser.add_argument("--intervals-table", type=Path, required=True, help="CSV, by votes")
    parser.add_argument("--intervals-metrics", type=Path, required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    backtest = parse_section(params, "backtest", BacktestParams)
    intervals = parse_section(params, "intervals", IntervalParams)
    winner = read_winner(args.winner, args.winner_hyperparameters)

    train = read_movies(args.train)
    estimator = full_pipeline(
        joblib.load(args.features_dir / f"{winner.pipeline}.joblib"),
        with_intervals(build_model(winner.family, winner.hyperparameters, seed), intervals, seed),
    ).fit(train, train[TARGET].to_numpy())

    test = read_movies(args.test)
    fields = card_fields(
        winner=winner,
        test=test,
        estimator=estimator,
        train_path=args.train,
        train_rows=len(train),
    )
    summary = json.loads(args.backtest_metrics.read_text(encoding="utf-8"))
    fields["backtest"] = card_entry(summary, WINNER, backtest.cut_years)
    by_cut = pd.read_csv(args.backtest)
    coverage = test_intervals(
        estimator, test, intervals.level, vote_bucket(test, backtest.min_votes)
    )
    fields["intervals"] = card_section(
        coverage, intervals, round(float(by_cut[f"{WINNER}_all_coverage"].mean()), DIGITS)
    )
    fields["explanation_baseline"] = explanation_baseline(train)
    card = save_model(estimator, args.model, fields)
    write_movies(feature_importance(point_pipeline(estimator)), args.importance)
    write_movies(coverage, args.intervals_table)
    write_json(
        args.intervals_metrics, {"test": {m: fields["intervals"]["test"][m] for m in SCORES}}
    )
    ingest = parse_section(params, "ingest", IngestParams)
    readable = render_model_card(
        card,
        Provenance(ingest.source_url, ingest.sha256),
        by_cut,
        pd.read_csv(args.error_by_votes, dtype={"votes": str}),
        coverage,
        backtest.min_votes,
    )
    write_text(args.readable_card, readable)


if __name__ == "__main__":
    run_cli(main)
