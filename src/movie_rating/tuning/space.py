"""Search spaces declared in params.yaml (`tune.spaces`, `tune.grids`), validated up front.

A bad space (unknown family or parameter type, low > high, empty grid) fails with a message
naming the key before any model is trained.
"""

from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from movie_rating.models.families import MODEL_FAMILIES
from movie_rating.params import StrictParams


class _Range(StrictParams):
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) > high ({self.high})")
        if self.log and self.low <= 0:  # (Optuna would refuse it only when sampling)
            raise ValueError("a log-scaled range needs low > 0")
        return self


class FloatRange(_Range):
    type: Literal["float"]


class IntRange(_Range):
    type: Literal["int"]
    low: int
    high: int


class Choice(StrictParams):
    type: Literal["categorical"]
    choices: list[Any] = Field(min_length=1)


Distribution = Annotated[FloatRange | IntRange | Choice, Field(discriminator="type")]
SearchSpace = dict[str, Distribution]


class BlendParams(StrictParams):
    weight_step: float = Field(gt=0, le=0.5)


class TuneParams(StrictParams):
    method: Literal["random", "grid", "optuna"]
    top_families: int = Field(ge=1)
    n_trials: int = Field(ge=1)
    cv_folds: int = Field(ge=2)
    seed: int
    storage: str
    spaces: dict[str, SearchSpace]
    grids: dict[str, dict[str, list[Any]]]
    blend: BlendParams | None = None  # None: no blend of the tuned families
    temporal_cut_years: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_families(self) -> Self:
        for section in ("spaces", "grids"):
            for family, space in getattr(self, section).items():
                if family not in MODEL_FAMILIES:
                    valid = ", ".join(sorted(MODEL_FAMILIES))
                    raise ValueError(
                        f"{section}.{family}: unknown model family; valid names: {valid}"
                    )
                if not space:
                    raise ValueError(f"{section}.{family}: empty search space")
        for family, grid in self.grids.items():
            for name, values in grid.items():
                if not values:
                    raise ValueError(f"grids.{family}.{name}: a grid needs at least one value")
        return self

    def tunable_families(self) -> set[str]:
        return set(self.grids if self.method == "grid" else self.spaces)
