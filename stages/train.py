"""Stage train: one pipeline x model family cell, scored by k-fold CV on train."""

import argparse
from pathlib import Path

import joblib

from movie_rating.cli import run_cli
from movie_rating.data.split import read_movies, write_movies
from movie_rating.evaluation.metrics import write_metrics
from movie_rating.models.families import build_model
from movie_rating.models.training import train_cell
from movie_rating.params import BaseParams, load_params, parse_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--matrices", type=Path, required=True, help="the pipeline's CV fold and test features"
    )
    parser.add_argument("--family", required=True, help="name in the model family registry")
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--metrics-dir", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, required=True)
    parser.add_argument(
        "--jobs", type=int, default=-1, help="folds fitted in parallel (-1: one per core)"
    )
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    model = build_model(args.family, params["models"].get(args.family) or {}, seed)
    result = train_cell(model, joblib.load(args.matrices), read_movies(args.test), args.jobs)

    write_metrics(args.metrics_dir, result.metrics)
    write_movies(result.test_predictions, args.predictions)


if __name__ == "__main__":
    run_cli(main)
