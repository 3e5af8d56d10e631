"""Stage featurize: build one registered feature pipeline and describe it fitted on train."""

import argparse
import json
from pathlib import Path

import joblib

from movie_rating.cli import run_cli
from movie_rating.data.split import read_movies
from movie_rating.features.pipelines import build_feature_pipeline, describe_features
from movie_rating.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--pipeline", required=True, help="name in the feature pipeline registry")
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="unfitted pipeline (joblib)")
    parser.add_argument("--summary", type=Path, required=True, help="feature summary (JSON)")
    args = parser.parse_args()

    pipeline = build_feature_pipeline(args.pipeline, load_params(args.params)["featurize"])
    summary = describe_features(pipeline, read_movies(args.train))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, args.out)
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    run_cli(main)
