"""Lookup in the name-keyed registries (feature pipelines, model families), and the name of a
cell of their grid."""

from collections.abc import Mapping
from typing import TypeVar

from movie_rating.errors import MovieRatingError

T = TypeVar("T")


class UnknownNameError(MovieRatingError, KeyError):
    """A name that is not in a registry; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join(sorted(registry))
        raise UnknownNameError(f"unknown {what} '{name}'; valid names: {valid}") from None


def cell_name(pipeline: str, family: str) -> str:
    """The name DVC gives a cell of the pipeline x family grid (`train@<pipeline>-<family>`)."""
    return f"{pipeline}-{family}"
