"""Service settings from the environment (prefix MOVIE_RATING_) or a `.env` file.

| variable                      | default                  |
| ----------------------------- | ------------------------ |
| MOVIE_RATING_MODELS_DIR       | models (the exported card and artifact) |
| MOVIE_RATING_MODEL_NAME       | unset: the name on the local model card (registry only) |
| MOVIE_RATING_STAGE            | prod                     |
| MOVIE_RATING_API_KEY          | unset: no key required   |
| MOVIE_RATING_CORS_ORIGINS     | [] (JSON list): CORS off |
| MOVIE_RATING_MAX_BATCH_SIZE   | 256                      |
| MOVIE_RATING_MAX_BODY_BYTES   | 1000000                  |
| MOVIE_RATING_LOG_LEVEL        | INFO                     |
| MOVIE_RATING_MODEL_POLL_SECONDS | 2 (s between looks while the model files are missing; 0: once) |
| MOVIE_RATING_MODEL_SOURCE     | local (or mlflow)        |
| MLFLOW_TRACKING_URI           | unset                    |

With MODEL_SOURCE=mlflow the service loads `models:/<MODEL_NAME>@<STAGE>` (STAGE is the
registry alias) from MLFLOW_TRACKING_URI (MOVIE_RATING_MLFLOW_TRACKING_URI wins if both are
set), and falls back to MODELS_DIR when the registry or that version fails; each registry
request gives up after MOVIE_RATING_REGISTRY_TIMEOUT_SECONDS (default 5).
"""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from movie_rating.errors import MovieRatingError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MOVIE_RATING_", env_file=".env", extra="ignore", frozen=True
    )

    models_dir: Path = Path("models")
    model_name: str | None = None
    stage: str = "prod"
    api_key: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=list)
    max_batch_size: int = Field(default=256, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    model_source: Literal["local", "mlflow"] = "local"
    # MLflow's own variable works too (matched case-insensitively, without the prefix).
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("movie_rating_mlflow_tracking_uri", "mlflow_tracking_uri"),
    )
    registry_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    model_poll_seconds: float = Field(default=2.0, ge=0, le=3600)

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: list[str]) -> list[str]:
        # The API key travels in a header browsers treat as a credential: no "*" origins.
        if "*" in origins:
            raise ValueError("list the allowed origins explicitly; '*' is not accepted")
        return origins

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_no_key(cls, key: object) -> object:
        return None if key == "" else key

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level


def read_settings() -> Settings:
    """The settings, or one sentence naming each variable that is wrong and why (never its
    value: one may be the API key)."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"MOVIE_RATING_{'_'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise MovieRatingError(f"invalid settings: {problems}") from None
