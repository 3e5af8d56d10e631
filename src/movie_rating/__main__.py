"""movie-rating: the project's commands in one (also `python -m movie_rating`).

serving the model:
  predict      rate one movie, a CSV or Parquet file, or partitions on a Dask cluster
  serve        the HTTP API (uvicorn with the app factory; settings: MOVIE_RATING_* variables)
  register     publish the export to an MLflow registry and move an alias to it
  versions     list the registry's versions of the model and their aliases
experiments (the `pipeline` dependency group; run in the repository root):
  compare      every DVC experiment in one table, best CV RMSE first
  report       the pull-request report: metrics and params diffs, every plot as PNG
  tune-worker  add trials to a shared Optuna study from another process or machine

`movie-rating COMMAND --help` describes each, with an example. The pipeline itself runs with
`uv run dvc repro`, experiments with `uv run dvc exp` (docs/experiments.md).
"""

import argparse
import sys
from collections.abc import Callable

import uvicorn

from movie_rating import predict
from movie_rating.cli import command_parser, run_cli
from movie_rating.model_registry import cli as registry
from movie_rating.reporting import compare
from movie_rating.serving.settings import read_settings

APP_FACTORY = "movie_rating.serving.app:create_app"

SERVE_EXAMPLES = """examples:
  movie-rating serve --port 8000
  MOVIE_RATING_MODEL_SOURCE=mlflow MLFLOW_TRACKING_URI=http://127.0.0.1:5000 movie-rating serve
  curl -s localhost:8000/predict -H 'content-type: application/json' \\
      -d '{"title": "Dune", "original_language": "en", "release_date": "2021-09-15"}'
"""


def serve(argv: list[str], prog: str) -> None:
    parser = command_parser(prog, "The HTTP API (uvicorn).", SERVE_EXAMPLES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0-65535 (0: any free one)")
    parser.add_argument("--workers", type=int, default=1, help="processes, each with the model")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    read_settings()  # each worker reads them again; a bad one is one sentence here, first
    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port, workers=args.workers)


# The two commands below import their module when run: optuna and vl-convert are in the
# `pipeline` dependency group, which the serving image does not install.
def report(argv: list[str], prog: str) -> None:
    from movie_rating.reporting import pr_report

    pr_report.main(argv, prog)


def tune_worker(argv: list[str], prog: str) -> None:
    from movie_rating.tuning import worker

    worker.main(argv, prog)


COMMANDS: dict[str, Callable[[list[str], str], None]] = {
    "predict": predict.main,
    "serve": serve,
    "register": registry.register,
    "versions": registry.versions,
    "compare": compare.main,
    "report": report,
    "tune-worker": tune_worker,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="movie-rating",
        usage="%(prog)s [-h] COMMAND [ARGUMENTS ...]",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    # listed in the description above, which groups them
    parser.add_argument(
        "command", choices=list(COMMANDS), metavar="COMMAND", help=argparse.SUPPRESS
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    run_cli(lambda: COMMANDS[args.command](args.arguments, f"movie-rating {args.command}"))


if __name__ == "__main__":
    main()
