"""Small synthetic movie frames with a known signal in the text, genre and date."""

import numpy as np
import pandas as pd
import pytest

WORDS = [f"w{i}" for i in range(60)]
GOOD_WORDS = ["masterpiece", "acclaimed", "classic"]
BAD_WORDS = ["zombie", "sequel", "cheap"]
GENRES = ["Drama", "Comedy", "Horror", "Action", "Animation"]
LANGUAGES = ["en"] * 8 + ["ja", "fr"]


def make_movies(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=15))
        quality = 0.0
        if rng.random() < 0.3:
            words.append(str(rng.choice(GOOD_WORDS)))
            quality += 1.0
        if rng.random() < 0.3:
            words.append(str(rng.choice(BAD_WORDS)))
            quality -= 1.0
        genres = list(rng.choice(GENRES, size=rng.integers(1, 3), replace=False))
        quality += 0.5 * ("Drama" in genres) - 0.7 * ("Horror" in genres)
        year = int(rng.integers(1950, 2023))
        quality += 0.01 * (2023 - year)
        rows.append(
            {
                "release_date": f"{year}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
                "title": " ".join(rng.choice(WORDS, size=2)),
                "overview": " ".join(words),
                "genre": ", ".join(genres),
                "original_language": str(rng.choice(LANGUAGES)),
                "vote_average": float(np.clip(6.3 + quality + rng.normal(0, 0.5), 0, 10)),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def movies() -> pd.DataFrame:
    return make_movies(300, seed=0)


@pytest.fixture(scope="session")
def v5_params() -> dict:
    """A `featurize` section with a small v5 block, as params.yaml would hold it."""
    text = {"word_ngram_max": 2, "char_ngram_range": None, "min_df": 2, "alpha": 3.0}
    return {
        "v5_stacked": {
            "overview": text,
            "title": {**text, "char_ngram_range": [2, 4]},
            "oof_folds": 5,
            "oof_seed": 7,
            "title_prefix_words": [1, 2],
            "release_keys": ["year", "language_decade"],
            "genre_min_count": 1,
            "language_min_count": 5,
            "year_bin_edges": [1980, 2000, 2010],
        }
    }


@pytest.fixture(scope="session")
def new_movies() -> pd.DataFrame:
    """Movies the models were not fitted on."""
    return make_movies(50, seed=9)
