"""movie-rating: the project's commands in one (also `python -m movie_rating`).

  predict    rate one movie, or a CSV of movies, with the exported model
  serve      the HTTP API (uvicorn with the app factory; settings: MOVIE_RATING_* variables)
  registry   publish the export to an MLflow registry, list its versions

`movie-rating COMMAND --help` describes each. The pipeline itself runs with `uv run dvc repro`,
experiments with `uv run dvc exp` (docs/experiments.md).
"""

import argparse
import sys
from collections.abc import Callable

import uvicorn

from movie_rating import predict
from movie_rating.cli import run_cli
from movie_rating.model_registry import cli as registry

APP_FACTORY = "movie_rating.serving.app:create_app"


def serve(argv: list[str], prog: str) -> None:
    parser = argparse.ArgumentParser(prog=prog, description="The HTTP API (uvicorn).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes, each with the model")
    args = parser.parse_args(argv)
    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port, workers=args.workers)


COMMANDS: dict[str, Callable[[list[str], str], None]] = {
    "predict": predict.main,
    "serve": serve,
    "registry": registry.main,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="movie-rating", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to do")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="the command's arguments")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    run_cli(lambda: COMMANDS[args.command](args.arguments, f"movie-rating {args.command}"))


if __name__ == "__main__":
    main()
