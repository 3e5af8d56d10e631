"""`movie-rating registry register|versions`: publish the export to MLflow.

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
from movie_rating.errors import MovieRatingError

logger = logging.getLogger("movie_rating.model_registry")


def main(argv: list[str] | None = None, prog: str = "movie-rating registry") -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", help="log + register the export, move the alias")
    register.add_argument("--models-dir", type=Path, required=True)
    register.add_argument("--alias", default="prod")
    register.add_argument("--experiment", default="movie-rating")
    register.add_argument(
        "--require-registry",
        action="store_true",
        help="fail (exit 1) when MLFLOW_TRACKING_URI is unset or the registry is unreachable",
    )
    versions = commands.add_parser("versions", help="list registered versions and aliases")
    for command in (register, versions):
        command.add_argument(
            "--name", help="registered model name (default: the name on the model card)"
        )
        command.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    versions.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    name = args.name or read_card(args.models_dir).name

    # Imported here: mlflow is an optional dependency (the `registry` group) and slow to import.
    from movie_rating.model_registry import mlflow_registry as registry

    uri = registry.tracking_uri_from_env()
    if args.command == "versions":
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
