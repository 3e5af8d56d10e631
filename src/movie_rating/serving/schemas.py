"""Request and response bodies, split by direction; `MovieInput` is also the CLI's row type.

The input fields are exactly `INPUT_FEATURES` (a contract test checks this), so what a client
may send is what the pipeline was trained on, nothing more.
"""

from datetime import date
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIN_RELEASE_DATE: Final = date(1870, 1, 1)
MAX_RELEASE_DATE: Final = date(2035, 12, 31)
MAX_TITLE_CHARS: Final = 300
MAX_OVERVIEW_CHARS: Final = 5000
MAX_GENRES: Final = 20
MAX_GENRE_CHARS: Final = 40
MAX_GENRE_LIST_CHARS: Final = MAX_GENRES * (MAX_GENRE_CHARS + 2)
GENRE_SEPARATOR: Final = ","

# What the validators below check, written into the OpenAPI schema as patterns, so a client
# (or a schema-driven fuzzer) that follows the schema sends what the API accepts. The
# validators stay the enforcement: JSON Schema cannot count the genres, and bounds on a
# `format: date` string can only be a pattern on its year (exact while the bounds are a
# January 1 and a December 31: the schema tests check the days beside them).
TITLE_PATTERN: Final = r"\S"
LANGUAGE_PATTERN: Final = r"^[a-z]{2,3}$"
_GENRE_ITEM: Final = rf"\s*(?:[^,\s](?:[^,]{{0,{MAX_GENRE_CHARS - 2}}}[^,\s])?\s*)?"
GENRE_PATTERN: Final = rf"^{_GENRE_ITEM}(?:,{_GENRE_ITEM})*$"
RELEASE_DATE_PATTERN: Final = (
    r"^(?:18[7-9]\d|19\d\d|20[0-2]\d|203[0-5])-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$"
)

_EXAMPLE: Final[dict[str, Any]] = {
    "title": "Oppenheimer",
    "overview": "The story of J. Robert Oppenheimer's role in the development of the atomic bomb.",
    "genre": "Drama, History",
    "original_language": "en",
    "release_date": "2023-07-19",
}


def genre_problem(value: str) -> str | None:
    """What is wrong with a genre list (too many genres, one too long), or None."""
    genres = [g.strip() for g in value.split(GENRE_SEPARATOR) if g.strip()]
    if len(genres) > MAX_GENRES:
        return f"at most {MAX_GENRES} genres, got {len(genres)}"
    if any(len(g) > MAX_GENRE_CHARS for g in genres):
        return f"each genre must be at most {MAX_GENRE_CHARS} characters"
    return None


class MovieInput(BaseModel):
    """What is known about a movie before release: the five model inputs."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [_EXAMPLE]}
    )

    title: str = Field(
        min_length=1,
        max_length=MAX_TITLE_CHARS,
        examples=["Oppenheimer"],
        json_schema_extra={"pattern": TITLE_PATTERN},
    )
    overview: str = Field(default="", max_length=MAX_OVERVIEW_CHARS)
    genre: str = Field(
        default="",
        max_length=MAX_GENRE_LIST_CHARS,
        description=(
            f"Comma-separated genres, e.g. 'Drama, History'; at most {MAX_GENRES}, "
            f"each at most {MAX_GENRE_CHARS} characters; may be empty."
        ),
        examples=["Drama, History"],
        json_schema_extra={"pattern": GENRE_PATTERN},
    )
    original_language: str = Field(
        pattern=LANGUAGE_PATTERN,
        description="ISO 639-1-like code in lower case (TMDB also uses 'cn' and 'xx').",
        examples=["en"],
    )
    release_date: date = Field(
        ge=MIN_RELEASE_DATE,
        le=MAX_RELEASE_DATE,
        description=f"ISO date between {MIN_RELEASE_DATE} and {MAX_RELEASE_DATE}.",
        examples=["2023-07-19"],
        json_schema_extra={"pattern": RELEASE_DATE_PATTERN},
    )

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value

    @field_validator("genre")
    @classmethod
    def _genre_list_within_limits(cls, value: str) -> str:
        problem = genre_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def as_row(self) -> dict[str, str]:
        """The pipeline's view of this movie: dates as ISO strings, like the training CSV."""
        return {
            "release_date": self.release_date.isoformat(),
            "title": self.title,
            "overview": self.overview,
            "genre": self.genre,
            "original_language": self.original_language,
        }


class BatchRequest(BaseModel):
    """Several movies at once; the size cap is a setting, checked by the endpoint."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"movies": [_EXAMPLE]}]}
    )

    movies: Annotated[list[MovieInput], Field(min_length=1)]


MIN_LEVEL: Final = 0.5
MAX_LEVEL: Final = 0.99


class IntervalOut(BaseModel):
    """Where the rating is expected to fall: on films like the test split, `level` of the
    ratings fell inside their intervals (the model card reports how often, by vote count and
    on films released after the training data)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"low": 5.9, "high": 7.7, "level": 0.8}]}
    )

    low: float = Field(ge=0.0, le=10.0)
    high: float = Field(ge=0.0, le=10.0)
    level: float = Field(ge=MIN_LEVEL, le=MAX_LEVEL, description="Nominal coverage, e.g. 0.8.")


class Contributions(BaseModel):
    """How far each input field moved the rating from the baseline's (rating points)."""

    title: float
    overview: float
    genre: float
    original_language: float
    release_date: float


class ExplanationOut(BaseModel):
    """`baseline` + the sum of `contributions` = `predicted_rating` (within 1e-6). Each
    contribution is the field's exact Shapley value over the five input fields, measured from
    the baseline movie that `GET /model` shows (no title, overview or genre; the training
    films' most common language and median release date)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "baseline": 5.85,
                    "contributions": {
                        "title": 0.12,
                        "overview": 0.41,
                        "genre": 0.33,
                        "original_language": 0.0,
                        "release_date": 0.15,
                    },
                }
            ]
        }
    )

    baseline: float = Field(description="The baseline movie's rating.")
    contributions: Contributions


class PredictionOut(BaseModel):
    title: str
    predicted_rating: float = Field(ge=0.0, le=10.0, description="TMDB vote average, 0-10.")
    model_version: str
    interval: IntervalOut
    explanation: ExplanationOut | None = Field(
        default=None, description="Only with `explain=true`: which inputs moved the rating."
    )


class BatchPredictionOut(BaseModel):
    model_version: str
    results: list[PredictionOut] = Field(description="One result per movie, in request order.")


class HealthOut(BaseModel):
    status: str


ServingPath = Literal["compiled", "fallback"]
_PATH = (
    "How ratings are computed: 'compiled' (the fast path: the model's trees as native code) "
    "or 'fallback' (the model's own predict, many times slower)."
)
_PATH_REASON = "Why the fast path is not taken (only on fallback)."


class ReadyOut(BaseModel):
    status: str
    model_version: str | None = None
    reason: str | None = None
    serving_path: ServingPath | None = Field(default=None, description=_PATH)
    serving_path_reason: str | None = Field(default=None, description=_PATH_REASON)


class ModelMetrics(BaseModel):
    cv_rmse_mean: float | None = None
    cv_rmse_std: float | None = None
    cv_r2_mean: float | None = None
    test_rmse: float | None = None
    test_mae: float | None = None
    test_r2: float | None = None


class BacktestOut(BaseModel):
    """The temporal backtest of the model card (see docs/results.md)."""

    cut_years: list[int] = Field(description="Each cut: fit on films released before it.")
    rmse: float = Field(description="Mean over the cuts of the RMSE on the later films.")
    r2: float = Field(description="Mean over the cuts of the R² on the later films.")
    baseline_rmse: float = Field(description="The same for the training mean, for scale.")


class IntervalsOut(BaseModel):
    """The prediction intervals of the model card (see docs/results.md)."""

    method: str
    default_level: float = Field(description="The level of `interval` when none is asked.")
    test_coverage: float = Field(description="Share of test ratings inside their interval.")
    test_mean_width: float
    backtest_coverage: float | None = Field(
        default=None,
        description="The same on films released after each backtest cut, mean over the cuts.",
    )


class ModelOut(BaseModel):
    """The parts of the model card a client needs; the card on disk has more."""

    name: str
    version: str
    stage: str
    family: str
    feature_pipeline: str
    metrics: ModelMetrics
    backtest: BacktestOut | None = Field(
        default=None,
        description="How the model did on films released after its training data; null for "
        "a model exported before the backtest existed.",
    )
    intervals: IntervalsOut
    explanation_baseline: dict[str, str] = Field(
        description="The movie every explanation starts from, as input fields."
    )
    trained_at: str
    sha256: str
    input_features: list[str]
    serving_path: ServingPath = Field(description=_PATH)
    serving_path_reason: str | None = Field(default=None, description=_PATH_REASON)
    source: Literal["local", "mlflow", "fallback"] = Field(
        default="local",
        description="Where the model came from: the local files, the MLflow registry, or the "
        "local files because the registry (MODEL_SOURCE=mlflow) failed.",
    )
    registry_version: str | None = Field(
        default=None, description="Registry version number when source is mlflow."
    )
    fallback_reason: str | None = Field(
        default=None, description="Why the registry model was not served (source fallback)."
    )


class RegisteredVersionOut(BaseModel):
    version: str
    aliases: list[str]
    status: str
    run_id: str | None = None
    created_at: str
    artifact_sha256: str | None = None
    card_version: str | None = None
    model_family: str | None = None


class RegistryOut(BaseModel):
    """Versions of the served model name in the MLflow registry, newest first."""

    name: str
    tracking_uri: str
    aliases: dict[str, str] = Field(description="Alias -> version number.")
    versions: list[RegisteredVersionOut]
    serving_source: Literal["local", "mlflow", "fallback"]
    serving_version: str | None = Field(
        default=None, description="Registry version this process serves, if from the registry."
    )


class ErrorOut(BaseModel):
    detail: Any
    request_id: str | None = None
