"""The reference for speed ratios: the seed project's design (v4_trigrams + LightGBM) built the
way the seed built it, from pandas and scikit-learn pieces on DataFrames (a ColumnTransformer
of TfidfVectorizers, a genre binarizer and a OneHotEncoder), fitted on the same split.

Only the benchmarks use it: each speed target is a ratio against it, measured in the same run,
since these machines are shared and their absolute speed varies from minute to minute.
"""

from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

YEAR_BIN_EDGES = [1960, 1980, 1990, 2000, 2010, 2015, 2020]
NUMERIC = ["release_year", "release_month", "title_words", "overview_words"]


def _fix_types(frame: pd.DataFrame) -> pd.DataFrame:
    dates = pd.to_datetime(frame["release_date"], errors="coerce", format="%Y-%m-%d")
    out = pd.DataFrame(index=frame.index)
    out["release_year"] = dates.dt.year.astype("float64").fillna(2000.0)
    out["release_month"] = dates.dt.month.astype("float64").fillna(6.0)
    for column in ("title", "overview", "genre", "original_language"):
        out[column] = frame[column].fillna("").astype(str).str.strip()
    for column in ("title", "overview"):
        out[f"{column}_words"] = out[column].str.split().str.len().astype("float64")
    labels = np.digitize(out["release_year"].to_numpy(), YEAR_BIN_EDGES)
    out["release_period"] = labels.astype(str)
    return out


def _split_genres(text: str) -> list[str]:
    return [genre.strip() for genre in text.split(",") if genre.strip()]


def seed_pipeline(lightgbm_params: dict[str, Any], seed: int) -> Pipeline:
    """The seed design: v4_trigrams features (params.yaml's) and LightGBM."""
    encode = ColumnTransformer(
        [
            (
                "overview",
                TfidfVectorizer(max_features=50, ngram_range=(1, 3), stop_words="english"),
                "overview",
            ),
            (
                "title",
                TfidfVectorizer(max_features=30, ngram_range=(1, 3), stop_words="english"),
                "title",
            ),
            (
                "genres",
                CountVectorizer(tokenizer=_split_genres, lowercase=False, token_pattern=None),
                "genre",
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", min_frequency=10),
                ["original_language", "release_period"],
            ),
            ("numeric", StandardScaler(), NUMERIC),
        ],
        sparse_threshold=1.0,
    )
    return Pipeline(
        [
            ("fix_types", FunctionTransformer(_fix_types)),
            ("encode", encode),
            ("model", LGBMRegressor(**lightgbm_params, random_state=seed, verbose=-1)),
        ]
    )
