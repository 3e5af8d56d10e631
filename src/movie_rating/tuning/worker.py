"""`movie-rating tune-worker`: join an Optuna study from any process or machine.

Every worker pointed at the same storage (OPTUNA_STORAGE, e.g. a shared PostgreSQL) and study
name adds its trials to one study; this is how a search outgrows one machine. The tune stage
then finds those finished trials and only runs what is missing up to `tune.n_trials`.
"""

from pathlib import Path

import joblib

from movie_rating.cli import command_parser, run_cli
from movie_rating.data.split import read_movies
from movie_rating.errors import MovieRatingError
from movie_rating.features.folds import cv_folds
from movie_rating.params import BaseParams, load_params, parse_section
from movie_rating.tuning.search import (
    Objective,
    create_study,
    optuna_objective,
)
from movie_rating.tuning.space import TuneParams
from movie_rating.tuning.tune import resolve_storage

EXAMPLES = """example (run as many as you like, on any machine that sees the storage):
  export OPTUNA_STORAGE=postgresql+psycopg://optuna@db-host/optuna
  movie-rating tune-worker --family lightgbm --features data/features/v5_stacked.joblib \\
      --train data/processed/train.csv --study v5_stacked-lightgbm-shared --n-trials 20
"""


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = command_parser(prog, __doc__, EXAMPLES)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--family", required=True)
    parser.add_argument("--features", type=Path, required=True, help="unfitted feature pipeline")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--study", required=True, help="study name shared by all workers")
    parser.add_argument("--n-trials", type=int, required=True, help="trials this worker runs")
    args = parser.parse_args(argv)
    if args.n_trials < 1:
        parser.error("--n-trials must be at least 1")

    params = load_params(args.params)
    tune = parse_section(params, "tune", TuneParams)
    seed = parse_section(params, "base", BaseParams).seed
    space = tune.spaces.get(args.family)
    if space is None:
        known = ", ".join(sorted(tune.spaces))
        raise MovieRatingError(f"no search space for --family {args.family}; there are: {known}")
    folds = cv_folds(joblib.load(args.features), read_movies(args.train), tune.cv_folds, tune.seed)
    objective = Objective(args.family, params["models"].get(args.family) or {}, folds, seed)
    # Workers must not share a sampler seed, or they would propose identical trials.
    study = create_study(args.study, resolve_storage(tune.storage), seed=None)
    study.optimize(optuna_objective(objective, space), n_trials=args.n_trials)


if __name__ == "__main__":
    run_cli(main)
