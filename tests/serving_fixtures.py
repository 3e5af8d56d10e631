"""A tiny real model for serving tests: synthetic movies, the real pipeline, a real card.

Tests never depend on the DVC-produced artifact; they fit the production code path
(`build_feature_pipeline` + `build_model` + `full_pipeline`) on ~60 made-up rows.
"""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from movie_rating.artifact import read_card, save_model
from movie_rating.data.schema import INPUT_FEATURES, TARGET
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.intervals.conformal import ConformalRegressor, IntervalParams
from movie_rating.intervals.scores import card_section, test_intervals
from movie_rating.models.export import Winner, card_fields, explanation_baseline
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.serving.schemas import MovieInput

MODEL_NAME = "tiny_model"
FEATURIZE_PARAMS: dict[str, Any] = {
    "v1_original": {
        "overview_max_features": 20,
        "title_max_features": 10,
        "ngram_max": 1,
        "genre_min_count": 1,
        "language_min_count": 3,
        "year_bin_edges": [1980, 2000, 2010],
    }
}
# One valid request body for the API tests.
MOVIE = {
    "title": "Oppenheimer",
    "overview": "The story of the atomic bomb.",
    "genre": "Drama, History",
    "original_language": "en",
    "release_date": "2023-07-21",
}
GENRES = ("Drama", "Comedy", "Action", "History", "Horror", "Animation", "Family", "Thriller")
LANGUAGES = ("en", "en", "en", "fr", "ja", "es", "ko", "cn", "xx")
WORDS = [
    "love",
    "war",
    "family",
    "space",
    "detective",
    "city",
    "night",
    "secret",
    "journey",
    "friend",
    "murder",
    "island",
    "king",
    "robot",
    "school",
    "ghost",
    "dream",
    "river",
    "summer",
    "heist",
]


def synthetic_movies(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """`n` made-up movies with the five inputs and a rating loosely tied to them."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        genres = rng.choice(GENRES, size=int(rng.integers(0, 4)), replace=False)
        released = date(1950, 1, 1) + timedelta(days=int(rng.integers(0, 27000)))
        overview = " ".join(rng.choice(WORDS, size=int(rng.integers(0, 25))))
        rating = 5.5 + 1.2 * ("Drama" in genres) - 0.9 * ("Horror" in genres)
        rating += 0.02 * (released.year - 1990) + float(rng.normal(0, 0.5))
        rows.append(
            {
                "release_date": released.isoformat(),
                "title": " ".join(rng.choice(WORDS, size=int(rng.integers(1, 5)))).title(),
                "overview": overview,
                "genre": ", ".join(genres),
                "original_language": str(rng.choice(LANGUAGES)),
                TARGET: round(float(np.clip(rating, 0, 10)), 1),
            }
        )
    return pd.DataFrame(rows).astype({column: str for column in INPUT_FEATURES})


def fit_tiny_pipeline(
    family: str = "ridge", hyperparams: dict[str, Any] | None = None, target_scale: float = 1.0
):
    """The production pipeline, with its intervals, fitted on 60 rows; `target_scale`
    stretches the target around 5 so that predictions overshoot 0-10 (to test clipping)."""
    train = synthetic_movies(60, seed=1)
    estimator = full_pipeline(
        build_feature_pipeline("v1_original", FEATURIZE_PARAMS),
        ConformalRegressor(build_model(family, hyperparams or {}, 42), random_state=42),
    )
    target = 5.0 + (train[TARGET].to_numpy() - 5.0) * target_scale
    return estimator.fit(train, target)


def write_model_dir(
    models_dir: Path, family: str = "ridge", target_scale: float = 1.0, **hyperparams: Any
) -> Path:
    """Fit, save the artifact and its card by the export code; return `models_dir`."""
    models_dir.mkdir(parents=True, exist_ok=True)
    estimator = fit_tiny_pipeline(family, hyperparams, target_scale)
    train_path = models_dir / "train.csv"
    synthetic_movies(60, seed=1).to_csv(train_path, index=False)
    test = synthetic_movies(30, seed=2)
    fields = card_fields(
        winner=Winner(
            pipeline="v1_original",
            family=family,
            hyperparameters=hyperparams,
            cv_metrics={"cv_rmse_mean": 0.5, "cv_rmse_std": 0.1, "cv_r2_mean": 0.3},
        ),
        test=test,
        estimator=estimator,
        train_path=train_path,
        train_rows=60,
    )
    # what the backtest stage would add (synthetic numbers for a synthetic model)
    fields["backtest"] = {"cut_years": [2019, 2020], "rmse": 0.9, "r2": 0.15, "baseline_rmse": 1.0}
    intervals = IntervalParams(level=0.8, folds=5, min_difficulty=0.1)
    everyone = pd.Series(["all"] * len(test))
    coverage = test_intervals(estimator, test, intervals.level, everyone)
    fields["intervals"] = card_section(coverage, intervals, backtest_coverage=0.75)
    fields["explanation_baseline"] = explanation_baseline(synthetic_movies(60, seed=1))
    save_model(estimator, models_dir / f"{MODEL_NAME}.joblib", fields)
    return models_dir


def artifact_file(models_dir: Path) -> Path:
    """The artifact the card in `models_dir` names."""
    return models_dir / read_card(models_dir).artifact.path


def movie_inputs(frame: pd.DataFrame) -> list[MovieInput]:
    return [
        MovieInput.model_validate(row) for row in frame[list(INPUT_FEATURES)].to_dict("records")
    ]


EDGE_ROWS: list[dict[str, str]] = [
    {"title": "  Padded  Title ", "overview": "", "genre": "", "original_language": "zz"},
    {
        "title": "Ünïcödé — 東京物語",
        "overview": "été à Paris",
        "genre": " , Drama,,",
        "original_language": "ja",
    },
    {
        "title": "Tabs\tand\nnewlines",
        "overview": "love\twar\nspace",
        "genre": "Sci-Fi",
        "original_language": "xx",
    },
    {
        "title": "NBSP\u00a0title",
        "overview": "odd\u2003space",
        "genre": "Drama",
        "original_language": "cn",
    },
    {
        "title": "A",
        "overview": "love " * 900,
        "genre": ", ".join(GENRES),
        "original_language": "en",
    },
]
EDGE_DATES = ("1870-01-01", "1979-12-31", "1980-01-01", "2000-01-01", "2010-06-15", "2035-12-31")


def varied_movies(n: int = 200) -> list[MovieInput]:
    """`n` varied movies: synthetic rows plus edge cases (whitespace, unicode, unknown
    languages and genres, dates on the year-bin edges and the limits)."""
    edges = [
        MovieInput.model_validate({**row, "release_date": EDGE_DATES[i % len(EDGE_DATES)]})
        for i, row in enumerate(EDGE_ROWS * 4)
    ]
    return (edges + movie_inputs(synthetic_movies(n, seed=7)))[:n]


def tamper(path: Path) -> None:
    """Flip one byte in the middle of the file."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
