"""Shared plumbing for command-line entry points (DVC stages, the predict CLI)."""

import argparse
import logging
import sys
from collections.abc import Callable

from movie_rating.errors import MovieRatingError


def run_cli(main: Callable[[], None]) -> None:
    """Run `main`; a MovieRatingError becomes one line on stderr and exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except MovieRatingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def command_parser(
    prog: str | None, description: str | None, examples: str | None = None
) -> argparse.ArgumentParser:
    """A command's parser: `--help` shows its description, then the options, then its
    examples, both as written (their line breaks and indents kept)."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
