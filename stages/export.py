"""Stage export: refit the winning cell (tuned or not) on train; write the artifact + card."""

import argparse
import json
from pathlib import Path

import joblib

from movie_rating.cli import run_cli
from movie_rating.data.schema import TARGET
from movie_rating.data.split import read_movies, write_movies
from movie_rating.models.export import (
    Winner,
    build_model_card,
    feature_importance,
    save_artifact,
)
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.params import BaseParams, ExportParams, load_params, parse_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--winner", type=Path, required=True)
    parser.add_argument("--winner-hyperparameters", type=Path, required=True)
    parser.add_argument("--features-dir", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--importance", type=Path, required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    name = parse_section(params, "export", ExportParams).pipeline_name
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

    artifact = args.models_dir / f"{name}.joblib"
    save_artifact(estimator, artifact)
    card = build_model_card(
        name=name,
        winner=winner,
        test=read_movies(args.test),
        estimator=estimator,
        train_path=args.train,
        artifact_path=artifact,
        train_rows=len(train),
    )
    (args.models_dir / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    write_movies(feature_importance(estimator), args.importance)


if __name__ == "__main__":
    run_cli(main)
