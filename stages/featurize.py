"""Stage featurize: build one registered feature pipeline, fit it per CV fold and on train."""

import argparse
from pathlib import Path

import joblib

from movie_rating.cli import run_cli
from movie_rating.data.split import read_movies
from movie_rating.features.folds import fold_matrices
from movie_rating.features.pipelines import build_feature_pipeline, describe_features
from movie_rating.outputs import replacing, write_json
from movie_rating.params import BaseParams, TrainParams, load_params, parse_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pipeline", required=True, help="name in the feature pipeline registry")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="unfitted pipeline (joblib)")
    parser.add_argument(
        "--matrices", type=Path, required=True, help="features of each CV fold and of test"
    )
    parser.add_argument("--summary", type=Path, required=True, help="feature summary (JSON)")
    parser.add_argument(
        "--jobs", type=int, default=-1, help="folds fitted in parallel (-1: one per core)"
    )
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    folds = parse_section(params, "train", TrainParams).cv_folds
    pipeline = build_feature_pipeline(args.pipeline, params["featurize"])
    matrices, fitted_on_train = fold_matrices(
        pipeline, read_movies(args.train), read_movies(args.test), folds, seed, args.jobs
    )

    with replacing(args.out) as scratch:
        joblib.dump(pipeline, scratch)
    # Dense matrices, mostly zeros: zlib's fastest level writes a twentieth of the bytes, and
    # reading them back is no slower.
    with replacing(args.matrices) as scratch:
        joblib.dump(matrices, scratch, compress=1)
    write_json(args.summary, describe_features(fitted_on_train, matrices.final.X_train))


if __name__ == "__main__":
    run_cli(main)
