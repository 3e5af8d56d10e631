"""Feature pipelines, declared as data: a registry from pipeline name to how it is built.

A pipeline version is a name in `PIPELINES` plus a block of the same name under `featurize:`
in params.yaml; adding a version is one entry here and one block there.
"""

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import scipy.sparse as sp
from pydantic import Field, model_validator
from sklearn.linear_model import Ridge
from sklearn.pipeline import FeatureUnion, Pipeline

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.features.blocks import PASSTHROUGH, ColumnBlocks
from movie_rating.features.stacking import (
    RELEASE_KEYS,
    OutOfFoldRegressor,
    ReleaseContextFeatures,
    ReleaseKeys,
    TargetEncodedKeys,
    TitlePrefixes,
)
from movie_rating.features.text import TextTfidf
from movie_rating.features.transformers import (
    CategoricalOneHotEncoder,
    ColumnSelector,
    DataTypeFixer,
    GenreMultiLabelEncoder,
    LanguageGrouper,
    LightweightTextEmbedder,
    SelectiveStandardScaler,
    YearBinning,
)
from movie_rating.params import StrictParams, parse_section
from movie_rating.registry import lookup

NUMERIC_FEATURES = ("release_year", "release_month", "title_words", "overview_words")
CATEGORICAL_FEATURES = ("original_language", "release_period")


class TfidfFeatureParams(StrictParams):
    """Knobs of the TF-IDF family of pipelines (v1-v4)."""

    overview_max_features: int = Field(ge=1)
    title_max_features: int = Field(ge=1)
    ngram_max: int = Field(ge=1, le=5)
    genre_min_count: int = Field(ge=1)
    language_min_count: int = Field(ge=1)
    year_bin_edges: list[int] = Field(min_length=1)


def build_tfidf_features(params: TfidfFeatureParams) -> Pipeline:
    """Dates, genres, language and release period, plus TF-IDF of overview and title."""
    ngram_range = (1, params.ngram_max)
    return _with_frame_steps(
        [
            (
                "overview",
                LightweightTextEmbedder(
                    max_features=params.overview_max_features, ngram_range=ngram_range
                ),
                "overview",
            ),
            (
                "title",
                LightweightTextEmbedder(
                    max_features=params.title_max_features, ngram_range=ngram_range
                ),
                "title",
            ),
            ("genres", GenreMultiLabelEncoder(min_count=params.genre_min_count), "genre"),
            ("categorical", CategoricalOneHotEncoder(), list(CATEGORICAL_FEATURES)),
            ("numeric", PASSTHROUGH, list(NUMERIC_FEATURES)),
        ],
        params.year_bin_edges,
        params.language_min_count,
    )


def _with_frame_steps(
    blocks: list[tuple[str, Any, Any]], year_bin_edges: list[int], language_min_count: int
) -> Pipeline:
    """The steps every pipeline shares (typed, binned, grouped, scaled columns), then the
    blocks, stacked as one dense matrix: every pipeline's is narrow (70-202 columns), and
    scikit-learn's trees split a sparse one twice as slowly, and more than 4x as slowly at 4x
    the rows (`benchmarks/scale.py`)."""
    return Pipeline(
        [
            ("select", ColumnSelector(columns=INPUT_FEATURES)),
            ("fix_types", DataTypeFixer()),
            ("year_bins", YearBinning(edges=tuple(year_bin_edges))),
            ("language", LanguageGrouper(min_count=language_min_count)),
            ("scale", SelectiveStandardScaler(columns=NUMERIC_FEATURES)),
            ("encode", ColumnBlocks(blocks, sparse_threshold=0.0)),
        ]
    )


class TextRidgeParams(StrictParams):
    """A wide TF-IDF of one text field (word, optionally char n-grams) and the ridge on it."""

    word_ngram_max: int = Field(ge=1, le=5)
    char_ngram_range: tuple[int, int] | None = None
    min_df: int = Field(ge=1)
    alpha: float = Field(gt=0)


class StackedFeatureParams(StrictParams):
    """Knobs of the stacked pipeline (v5): out-of-fold ridge scores plus the v1-v4 context."""

    overview: TextRidgeParams
    title: TextRidgeParams
    oof_folds: int = Field(ge=2)
    oof_seed: int
    title_prefix_words: list[int] = Field(default_factory=list)
    release_keys: list[str] = Field(default_factory=list)
    target_smoothing: Literal["auto"] | float = "auto"
    genre_min_count: int = Field(ge=1)
    language_min_count: int = Field(ge=1)
    year_bin_edges: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_release_keys(self) -> Self:
        unknown = sorted(set(self.release_keys) - set(RELEASE_KEYS))
        if unknown:
            raise ValueError(f"unknown release_keys {unknown}; known: {sorted(RELEASE_KEYS)}")
        return self


def _text_ridge(params: TextRidgeParams, folds: int, seed: int) -> OutOfFoldRegressor:
    words = TextTfidf(
        ngram_range=(1, params.word_ngram_max), min_df=params.min_df, sublinear_tf=True
    )
    encoder: Any = words
    if params.char_ngram_range is not None:
        characters = TextTfidf(
            analyzer="char_wb",
            ngram_range=params.char_ngram_range,
            min_df=params.min_df,
            sublinear_tf=True,
        )
        encoder = FeatureUnion([("word", words), ("char", characters)])
    return OutOfFoldRegressor(
        encoder, Ridge(alpha=params.alpha), n_splits=folds, random_state=seed, feature_name="ridge"
    )


def _target_encoded(keys: Any, params: StackedFeatureParams) -> TargetEncodedKeys:
    """Out-of-fold mean rating of the films sharing each category key that `keys` makes."""
    return TargetEncodedKeys(
        keys,
        n_splits=params.oof_folds,
        random_state=params.oof_seed,
        smooth=params.target_smoothing,
    )


def build_stacked_features(params: StackedFeatureParams) -> Pipeline:
    """Out-of-fold ridge predictions from a wide TF-IDF of each text field, out-of-fold target
    encodings of the title's first words and of the release year and language x decade, the
    same genre, language, period and numeric features as v1-v4, plus release weekday, genre
    count and title and overview style, for a model stacked on top."""
    blocks: list[tuple[str, Any, Any]] = [
        ("overview", _text_ridge(params.overview, params.oof_folds, params.oof_seed), "overview"),
        ("title", _text_ridge(params.title, params.oof_folds, params.oof_seed), "title"),
    ]
    if params.title_prefix_words:
        # films whose title starts with the same words: franchises
        prefixes = TitlePrefixes(word_counts=tuple(params.title_prefix_words))
        blocks.append(("title_prefix", _target_encoded(prefixes, params), "title"))
    if params.release_keys:
        keys = ReleaseKeys(keys=tuple(params.release_keys))
        blocks.append(
            ("release", _target_encoded(keys, params), ["release_date", "original_language"])
        )
    blocks += [
        ("context", ReleaseContextFeatures(), ["release_date", "genre", "title", "overview"]),
        ("genres", GenreMultiLabelEncoder(min_count=params.genre_min_count), "genre"),
        ("categorical", CategoricalOneHotEncoder(), list(CATEGORICAL_FEATURES)),
        ("numeric", PASSTHROUGH, list(NUMERIC_FEATURES)),
    ]
    return _with_frame_steps(blocks, params.year_bin_edges, params.language_min_count)


@dataclass(frozen=True)
class PipelineKind:
    """How a registry entry turns its params block into an unfitted feature pipeline."""

    params_model: type[StrictParams]
    build: Callable[[Any], Pipeline]


_TFIDF = PipelineKind(TfidfFeatureParams, build_tfidf_features)

PIPELINES: Mapping[str, PipelineKind] = {
    "v1_original": _TFIDF,
    "v2_bigrams": _TFIDF,
    "v3_bigrams_more_features": _TFIDF,
    "v4_trigrams": _TFIDF,
    "v5_stacked": PipelineKind(StackedFeatureParams, build_stacked_features),
}


def build_feature_pipeline(name: str, featurize_params: Mapping[str, Any]) -> Pipeline:
    """The unfitted feature pipeline `name`, configured from params.yaml's `featurize` section."""
    kind = lookup(PIPELINES, name, "feature pipeline")
    params = parse_section(featurize_params, name, kind.params_model, parent="featurize")
    return kind.build(params)


def describe_features(fitted: Pipeline, train_matrix: Any) -> dict[str, Any]:
    """What a fitted pipeline puts out: the reviewable shape of a pipeline version, and a
    fingerprint of its training matrix (two pipelines with the same fingerprint give every
    model the same numbers, so their rows of the comparison tie)."""
    names = [str(name) for name in fitted.get_feature_names_out()]
    blocks = Counter(name.split("__", 1)[0] for name in names)
    return {
        "n_features": len(names),
        "features_by_block": dict(blocks),
        "fingerprint": matrix_fingerprint(train_matrix),
        "features": names,
    }


def matrix_fingerprint(matrix: Any) -> str:
    """sha256 of a matrix's shape, column names aside, and values (CSR or dense)."""
    csr = sp.csr_matrix(matrix, dtype=np.float64)
    csr.sort_indices()
    digest = hashlib.sha256(repr(csr.shape).encode())
    for part in (csr.indptr.astype(np.int64), csr.indices.astype(np.int64), csr.data):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()[:16]
