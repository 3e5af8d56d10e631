"""Column names shared by every stage, so no stage spells a column on its own."""

from typing import Final

import numpy as np
from numpy.typing import ArrayLike

# Raw CSV header (TMDB "9000+ movies") -> the snake_case names used everywhere downstream.
RAW_TO_CLEAN: Final[dict[str, str]] = {
    "Release_Date": "release_date",
    "Title": "title",
    "Overview": "overview",
    "Popularity": "popularity",
    "Vote_Count": "vote_count",
    "Vote_Average": "vote_average",
    "Original_Language": "original_language",
    "Genre": "genre",
    "Poster_Url": "poster_url",
}
RAW_COLUMNS: Final[tuple[str, ...]] = tuple(RAW_TO_CLEAN)

RECORD_ID: Final = "record_id"
"""1-based position of the record in the raw file, kept so every row can be traced back."""

TARGET: Final = "vote_average"
RATING_RANGE: Final = (0.0, 10.0)
VOTE_COUNT: Final = "vote_count"

INPUT_FEATURES: Final[tuple[str, ...]] = (
    "release_date",
    "title",
    "overview",
    "genre",
    "original_language",
)
"""What is known before release: the only columns a model may see."""

FORBIDDEN_FEATURES: Final[frozenset[str]] = frozenset({"popularity", "vote_count", "poster_url"})
"""Known only after release (or meaningless): never model inputs."""

PROCESSED_COLUMNS: Final[tuple[str, ...]] = (RECORD_ID, *INPUT_FEATURES, VOTE_COUNT, TARGET)
"""Columns of the clean train/test files; vote_count is kept for error analysis only."""


def clip_ratings(predictions: ArrayLike) -> np.ndarray:
    """Ratings live on TMDB's 0-10 scale; a regressor can overshoot it."""
    return np.clip(np.asarray(predictions, dtype=np.float64), *RATING_RANGE)
