"""Typed views of `params.yaml`: each stage parses its own section once, unknown keys are errors."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from movie_rating.errors import MovieRatingError

ParamsT = TypeVar("ParamsT", bound=BaseModel)


class StrictParams(BaseModel):
    """A params section: immutable, and a typo in a key is an error rather than a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(StrictParams):
    seed: int


class IngestParams(StrictParams):
    source_url: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class CleanParams(StrictParams):
    min_vote_count: int = Field(ge=0)
    min_release_year: int
    max_release_year: int

    @model_validator(mode="after")
    def _years_ordered(self) -> Self:
        if self.min_release_year > self.max_release_year:
            raise ValueError("min_release_year must not exceed max_release_year")
        return self


class SplitParams(StrictParams):
    test_size: float = Field(gt=0.0, lt=1.0)
    seed: int


class TrainParams(StrictParams):
    cv_folds: int = Field(ge=2)
    families: list[str]


class EvaluateParams(StrictParams):
    vote_count_buckets: list[int] = Field(min_length=1)
    select_on: Literal["cv", "temporal"]


class ParamsError(MovieRatingError):
    """params.yaml is missing a section or a key has an invalid value."""


def load_params(path: Path) -> dict[str, Any]:
    """Read params.yaml as plain data."""
    with path.open(encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle)
    if not isinstance(loaded, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return loaded


def parse_section(
    params: Mapping[str, Any], section: str, model: type[ParamsT], parent: str = ""
) -> ParamsT:
    """Validate one section, turning pydantic's error into one that names the full key."""
    where = f"{parent}.{section}" if parent else section
    if section not in params:
        raise ParamsError(f"params.yaml has no '{where}' section")
    try:
        return model.model_validate(params[section])
    except ValidationError as error:
        problems = "; ".join(
            ".".join([where, *(str(part) for part in e["loc"])]) + f": {e['msg']}"
            for e in error.errors()
        )
        raise ParamsError(f"invalid params.yaml: {problems}") from None
