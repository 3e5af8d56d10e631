"""`movie-rating register` and `movie-rating versions`: publish the export to MLflow.

Run after `dvc repro` (it is not a DVC stage: a stage must not need a server). Publishing is
optional: without MLFLOW_TRACKING_URI nothing happens, and an unreachable registry is a warning,
exit 0, unless --require-registry makes either an error.
"""

import argparse
import json
import logging
import sys
from pathlib import Path

from movie_rating.artifact import read_card
from movie_rating.cli import command_parser
from movie_rating.errors import MovieRatingError

logger = logging.getLogger("movie_rating.model_registry")


REGISTER_EXAMPLES = """examples:
  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
  movie-rating register --models-dir models                  # alias `prod` -> the new version
  movie-rating register --models-dir models --alias staging --require-registry
"""
VERSIONS_EXAMPLES = """example:
  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 movie-rating versions
"""


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="registered model name (default: the model card's)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")


def register_parser(prog: str | None) -> argparse.ArgumentParser:
    parser = command_parser(
        prog,
        "Log the exported model and its card to MLflow, register it as a new version, move "
        "the alias to it.",
        REGISTER_EXAMPLES,
    )
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--alias", default="prod")
    parser.add_argument("--experiment", default="movie-rating")
    parser.add_argument(
        "--require-registry",
        action="store_true",
        help="fail (exit 1) when MLFLOW_TRACKING_URI is unset or the registry is unreachable",
    )
    common_arguments(parser)
    return parser


def versions_parser(prog: str | None) -> argparse.ArgumentParser:
    description = "List the registered versions of the model and its aliases, as JSON."
    parser = command_parser(prog, description, VERSIONS_EXAMPLES)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    common_arguments(parser)
    return parser


def register(argv: list[str] | None = None, prog: str | None = None) -> None:
    """`movie-rating register`."""
    run(register_parser(prog).parse_args(argv), "register")


def versions(argv: list[str] | None = None, prog: str | None = None) -> None:
    """`movie-rating versions`."""
    run(versions_parser(prog).parse_args(argv), "versions")


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    """`python -m movie_rating.model_registry register|versions ...`."""
    commands = {"register": register, "versions": versions}
    parser = command_parser(prog, __doc__.splitlines()[0])
    parser.add_argument("command", choices=sorted(commands))
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    commands[args.command](args.arguments, f"{parser.prog} {args.command}")


def run(args: argparse.Namespace, command: str) -> None:
    name = args.name or read_card(args.models_dir).name

    # Imported here: mlflow is an optional dependency (the `registry` group) and slow to import.
    from movie_rating.model_registry import mlflow_registry as registry

    uri = registry.tracking_uri_from_env()
    if command == "versions":
        if uri is None:
            raise MovieRatingError(f"{registry.TRACKING_URI_ENV} is not set")
        listing = registry.list_versions(uri, name=name, timeout_seconds=args.timeout)
        print(json.dumps(listing, indent=2))
        return

    if uri is None:
        if args.require_registry:
            raise MovieRatingError(f"{registry.TRACKING_URI_ENV} is not set (--require-registry)")
        logger.info(
            "%s is not set: nothing registered; the local export in %s is unchanged",
            registry.TRACKING_URI_ENV,
            args.models_dir,
        )
        return
    try:
        published = registry.register_export(
            args.models_dir,
            tracking_uri=uri,
            name=name,
            alias=args.alias,
            experiment=args.experiment,
            timeout_seconds=args.timeout,
        )
    except registry.RegistryUnavailable as error:
        if args.require_registry:
            raise
        logger.warning(
            "not registered (%s); the local export in %s is unaffected. "
            "Pass --require-registry to make this an error.",
            error,
            args.models_dir,
        )
        return
    json.dump(vars(published), sys.stdout)
    print()
