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
from movie_rating.models.export import Winner, card_fields, feature_importance
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
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
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    backtest = parse_section(params, "backtest", BacktestParams)
    chosen = json.loads(args.winner.read_text(encoding="utf-8"))
    winner = Winner(
        pipeline=chosen["pipeline"],
        family=chosen["family"],
        hyperparameters=json.loads(args.winner_hyperparameters.read_text(encoding="utf-8")),
        cv_metrics={k: chosen[k] for k in ("cv_rmse_mean", "cv_rmse_std", "cv_r2_mean")},
    )

    train = read_movies(args.train)
    estimator = full_pipeline(
        joblib.load(args.features_dir / f"{winner.pipeline}.joblib"),
        build_model(winner.family, winner.hyperparameters, seed),
    ).fit(train, train[TARGET].to_numpy())

    fields = card_fields(
        winner=winner,
        test=read_movies(args.test),
        estimator=estimator,
        train_path=args.train,
        train_rows=len(train),
    )
    summary = json.loads(args.backtest_metrics.read_text(encoding="utf-8"))
    fields["backtest"] = card_entry(summary, WINNER, backtest.cut_years)
    card = save_model(estimator, args.model, fields)
    write_movies(feature_importance(estimator), args.importance)
    ingest = parse_section(params, "ingest", IngestParams)
    readable = render_model_card(
        card,
        Provenance(ingest.source_url, ingest.sha256),
        pd.read_csv(args.backtest),
        pd.read_csv(args.error_by_votes, dtype={"votes": str}),
        backtest.min_votes,
    )
    args.readable_card.write_text(readable, encoding="utf-8")


if __name__ == "__main__":
    run_cli(main)
