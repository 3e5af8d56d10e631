"""Stage clean: typed clean rows, a quarantine file for every unusable record, train/test split."""

import argparse
from pathlib import Path

from movie_rating.cli import run_cli
from movie_rating.data.cleaning import clean_movies
from movie_rating.data.split import split_train_test, write_movies
from movie_rating.outputs import write_json
from movie_rating.params import CleanParams, SplitParams, load_params, parse_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--quarantine", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    result = clean_movies(args.raw, parse_section(params, "clean", CleanParams))
    train, test = split_train_test(result.clean, parse_section(params, "split", SplitParams))

    write_movies(train, args.train)
    write_movies(test, args.test)
    write_movies(result.quarantine, args.quarantine)
    report = result.quality_report() | {"train": len(train), "test": len(test)}
    write_json(args.report, report)


if __name__ == "__main__":
    run_cli(main)
