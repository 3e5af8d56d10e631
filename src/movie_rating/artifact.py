"""The exported model: one joblib file and the typed model card beside it.

Export writes both (`save_model`); serving, the prediction CLI and the model registry read
them through `read_card` and `load_model`, which refuse an artifact whose sha256 is not the
card's before `joblib.load` ever unpickles it. The card names the artifact file, so a models
folder is found by its card alone; messages name files, never a server's folders.
"""

from pathlib import Path
from typing import Any, Final

import joblib
from pydantic import BaseModel, ConfigDict, ValidationError

from movie_rating.data.ingest import sha256_of
from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.errors import MovieRatingError
from movie_rating.outputs import replacing, write_json

CARD_FILE: Final = "model_card.json"


class ModelIntegrityError(MovieRatingError):
    """The artifact or its card is missing, unreadable, or the checksums disagree."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArtifactFile(_Section):
    path: str  # file name, beside the card
    sha256: str


class TrainingData(_Section):
    path: str
    sha256: str
    rows: int


class Backtest(_Section):
    """How the model did on films released after the ones it learned from (the backtest
    stage): refitted at each cut year on the earlier films, scored on the later ones; means
    over the cut years, on all later films."""

    cut_years: list[int]
    rmse: float
    r2: float
    baseline_rmse: float  # the training mean's, for scale


class IntervalScores(_Section):
    coverage: float  # share of the films whose rating fell inside their interval
    mean_width: float
    winkler: float  # mean interval (Winkler) score: the width, plus misses' distance x 2/(1-L)


class Intervals(_Section):
    """The prediction intervals (movie_rating.intervals): normalised conformal, calibrated on
    out-of-fold residuals; scored on the test split at the default level, beside one width
    for all, and on the temporal backtest (mean over the cut years)."""

    method: str
    level: float  # the default; a client may ask for another
    folds: int
    test: IntervalScores
    test_constant_width: IntervalScores
    backtest_coverage: float | None = None


class ExplanationBaseline(_Section):
    """The movie every explanation starts from: nothing known of its title, overview or
    genre, released in the training data's most common language on its median date."""

    title: str
    overview: str
    genre: str
    original_language: str
    release_date: str


class ModelCard(_Section):
    """What the exported model is, how it was chosen and how well it does."""

    name: str
    version: str
    feature_pipeline: str
    model_family: str
    hyperparameters: dict[str, Any]
    target: str
    input_features: list[str]
    metrics: dict[str, float]
    training_data: TrainingData
    artifact: ArtifactFile
    libraries: dict[str, str]
    created_at: str
    backtest: Backtest | None = None  # cards exported before the backtest existed have none
    intervals: Intervals | None = None  # nor, before they existed, intervals
    explanation_baseline: ExplanationBaseline | None = None


def card_path(models_dir: Path) -> Path:
    return models_dir / CARD_FILE


def read_card(models_dir: Path) -> ModelCard:
    path = card_path(models_dir)
    if not path.is_file():
        raise ModelIntegrityError(f"no {CARD_FILE}: run `dvc repro` (or `dvc pull`) first")
    try:
        return ModelCard.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as error:
        problems = "; ".join(
            ".".join(str(part) for part in e["loc"]) + f": {e['msg']}"
            for e in (error.errors() if isinstance(error, ValidationError) else [])
        )
        raise ModelIntegrityError(f"{CARD_FILE} is not a valid model card: {problems}") from None


def verify_artifact(models_dir: Path, card: ModelCard) -> Path:
    """The artifact's path, after checking it is the file the card describes."""
    artifact = models_dir / Path(card.artifact.path).name
    if not artifact.is_file():
        raise ModelIntegrityError(f"{artifact.name} (named by {CARD_FILE}) does not exist")
    actual = sha256_of(artifact)
    if actual != card.artifact.sha256:
        raise ModelIntegrityError(
            f"checksum mismatch for {artifact.name}: {CARD_FILE} expects sha256 "
            f"{card.artifact.sha256}, the file has {actual}; refusing a tampered or stale artifact"
        )
    if card.input_features != list(INPUT_FEATURES):
        raise ModelIntegrityError(
            f"the model expects inputs {card.input_features}, this code sends "
            f"{list(INPUT_FEATURES)}"
        )
    return artifact


def load_model(models_dir: Path) -> tuple[Any, ModelCard]:
    """The verified artifact, unpickled, and its card."""
    card = read_card(models_dir)
    model = joblib.load(verify_artifact(models_dir, card))
    return model, card


def save_model(model: Any, path: Path, card_fields: dict[str, Any]) -> ModelCard:
    """Write the artifact and then its card (which names it and holds its sha256), each by
    writing beside and renaming, so an interrupted export leaves no half-written file."""
    with replacing(path) as scratch:
        joblib.dump(model, scratch, compress=3)
    sha = sha256_of(path)
    card = ModelCard.model_validate(
        {
            **card_fields,
            "name": path.stem,
            "version": sha[:12],
            "input_features": list(INPUT_FEATURES),
            "artifact": {"path": path.name, "sha256": sha},
        }
    )
    write_json(card_path(path.parent), card.model_dump())
    return card
