# ruff: noqa: RUF001  (look-alike characters are what these tests feed the tokenizers)
"""Every registered feature pipeline, configured from params.yaml, on a small synthetic frame."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from movie_rating.data.schema import FORBIDDEN_FEATURES, INPUT_FEATURES, TARGET
from movie_rating.features.pipelines import PIPELINES, build_feature_pipeline, describe_features
from movie_rating.params import ParamsError
from movie_rating.registry import UnknownNameError

pipeline_names = pytest.mark.parametrize("name", sorted(PIPELINES))


def _dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _y(frame):
    # Supervised blocks (out-of-fold stacking) need the target; the others ignore it.
    return frame[TARGET].to_numpy()


# Rows that exercise every path of every step: text that is ASCII, ASCII but for typographic
# punctuation, in other scripts, on several lines (the byte tokenizer joins a batch's texts
# with line breaks), missing or blank; dates that are missing or impossible; languages and
# genres never seen.
ODD_ROWS = [
    {"title": "Été à Paris", "overview": "Le café’s “secret” — a murder… in the village"},
    {"title": "東京物語", "overview": "東京 family journey 1953 – ΟΔΥΣΣΕΥΣ Οδυσσευς"},
    {"title": "İstanbul Hatırası", "overview": "İİİ istanbul détective\tghost\rplanet"},
    {"title": "Two\nLines", "overview": "A ghost.\nA robot on a planet.\r\n\nThe end"},
    {"title": "Part 2: The Return", "overview": "The detective’s ghost. Robot! Planet? 2049."},
    {"title": "   ", "overview": ""},
    {"title": None, "overview": None, "genre": None, "original_language": None},
    {"release_date": "2021-02-30", "genre": "Western, Musical", "original_language": "xx"},
    {"release_date": "not a date", "genre": "", "original_language": ""},
    {"release_date": None, "overview": "supercalifragilisticexpialidocious " * 3},
    {"release_date": "1890-01-01", "overview": "snake_case __init__ robot_planet ghost"},
]


def _batch(movie_factory, n: int = 45) -> pd.DataFrame:
    frame = movie_factory(n, seed=99)
    for i, changes in enumerate(ODD_ROWS):
        for column, value in changes.items():
            frame.loc[i, column] = value
    return frame


@pipeline_names
def test_fits_and_transforms(name, repo_params, movies):
    pipeline = build_feature_pipeline(name, repo_params["featurize"])
    out = pipeline.fit_transform(movies, _y(movies))
    names = list(pipeline.get_feature_names_out())

    assert isinstance(out, np.ndarray)  # narrow: dense for the trees (`_with_frame_steps`)
    assert out.dtype == np.float64
    assert out.shape == (len(movies), len(names))
    assert np.isfinite(out).all()
    assert len(set(names)) == len(names)


@pipeline_names
def test_fit_transform_is_out_of_fold_only_where_a_block_is(name, repo_params, movies):
    """Without a supervised block, fit_transform is fit then transform; with one (v5), the
    training rows get out-of-fold values instead of in-sample ones."""
    pipeline = build_feature_pipeline(name, repo_params["featurize"])
    fitted = _dense(clone(pipeline).fit_transform(movies, _y(movies)))
    refitted = _dense(clone(pipeline).fit(movies, _y(movies)).transform(movies))
    stacked = PIPELINES[name].params_model.__name__ == "StackedFeatureParams"
    assert np.array_equal(fitted, refitted) != stacked


@pipeline_names
def test_transforms_unseen_rows(name, repo_params, movies, movie_factory):
    pipeline = build_feature_pipeline(name, repo_params["featurize"]).fit(movies, _y(movies))
    new = _batch(movie_factory)
    out = _dense(pipeline.transform(new))
    assert out.shape == (len(new), len(pipeline.get_feature_names_out()))
    assert np.isfinite(out).all()


@pipeline_names
def test_a_batch_of_one_is_a_batch(name, repo_params, movies, movie_factory, byte_tokenizer_calls):
    """Transforming rows together or one by one gives the same numbers, bit for bit (a batch
    this size tokenizes ASCII text on bytes, one row by the vectorizer's regex)."""
    pipeline = build_feature_pipeline(name, repo_params["featurize"]).fit(movies, _y(movies))
    new = _batch(movie_factory)
    assert len(new) >= 40
    byte_tokenizer_calls.clear()
    alone = np.vstack([_dense(pipeline.transform(new.iloc[[i]])) for i in range(len(new))])
    assert not byte_tokenizer_calls
    together = _dense(pipeline.transform(new))
    assert byte_tokenizer_calls, "the batch's ASCII text was tokenized on bytes"
    assert together.shape == alone.shape
    differ = np.flatnonzero((together != alone).any(axis=1))
    assert not len(differ), f"rows {differ.tolist()} differ"
    # and the training rows too, in any order
    order = np.random.default_rng(0).permutation(len(movies))
    shuffled = _dense(pipeline.transform(movies.iloc[order]))
    np.testing.assert_array_equal(shuffled, _dense(pipeline.transform(movies))[order])


@pipeline_names
def test_takes_a_frame_or_a_mapping_of_columns(name, repo_params, movies, movie_factory):
    pipeline = build_feature_pipeline(name, repo_params["featurize"]).fit(movies, _y(movies))
    new = _batch(movie_factory)
    expected = _dense(pipeline.transform(new))
    # missing values as None, as JSON gives them (a NaN in a list of strings: see test_columns)
    as_lists = {
        column: [None if value != value else value for value in new[column].tolist()]
        for column in INPUT_FEATURES
    }
    assert None in as_lists["title"]
    np.testing.assert_array_equal(_dense(pipeline.transform(as_lists)), expected)
    one = {column: [value] for column, value in new.iloc[0][list(INPUT_FEATURES)].items()}
    np.testing.assert_array_equal(_dense(pipeline.transform(one)), expected[:1])


@pipeline_names
def test_forbidden_columns_never_influence_output(name, repo_params, movies):
    present = FORBIDDEN_FEATURES & set(movies.columns)
    assert present == FORBIDDEN_FEATURES  # the frame really carries them
    pipeline = build_feature_pipeline(name, repo_params["featurize"])
    reference = _dense(clone(pipeline).fit_transform(movies, _y(movies)))

    scrambled = movies.copy()
    scrambled["popularity"] = scrambled["popularity"][::-1].to_numpy() * 1000
    scrambled["vote_count"] = np.arange(len(movies)) * 7
    scrambled["poster_url"] = "https://elsewhere.example/p.jpg"
    np.testing.assert_array_equal(
        _dense(clone(pipeline).fit_transform(scrambled, _y(scrambled))), reference
    )

    # transform must not depend on them either, nor on their presence
    fitted = clone(pipeline).fit(movies, _y(movies))
    without = movies.drop(columns=sorted(FORBIDDEN_FEATURES))
    np.testing.assert_array_equal(
        _dense(fitted.transform(without)), _dense(fitted.transform(scrambled))
    )

    names = [str(n).lower() for n in fitted.get_feature_names_out()]
    for forbidden in FORBIDDEN_FEATURES:
        assert not [n for n in names if forbidden in n]


@pipeline_names
def test_describe_features_counts_blocks(name, repo_params, movies):
    pipeline = build_feature_pipeline(name, repo_params["featurize"])
    fitted = clone(pipeline).fit(movies, _y(movies))
    summary = describe_features(fitted, fitted.transform(movies))
    assert summary["features"] == [str(n) for n in fitted.get_feature_names_out()]
    assert summary["n_features"] == fitted.transform(movies).shape[1]
    assert sum(summary["features_by_block"].values()) == summary["n_features"]
    assert {"genres", "categorical", "numeric"} <= set(summary["features_by_block"])
    blocks = [block for block, _, _ in fitted[-1].blocks_]
    assert list(summary["features_by_block"]) == blocks  # in the order of the blocks


def test_params_change_the_built_pipeline(repo_params, movies):
    featurize = dict(repo_params["featurize"])
    block = dict(featurize["v1_original"], overview_max_features=3, title_max_features=2)
    small = build_feature_pipeline("v1_original", featurize | {"v1_original": block})
    small.fit(movies, _y(movies))
    blocks = describe_features(small, small.transform(movies))["features_by_block"]
    assert blocks["overview"] == 3
    assert blocks["title"] == 2


def test_the_fingerprint_tells_identical_features_apart(repo_params, movies):
    """Pipelines whose settings differ but whose features do not (v2 and v4 at the seed's
    settings: no trigram makes the cut) share a fingerprint; others do not."""
    featurize = repo_params["featurize"]

    def fingerprint(name: str, block: dict) -> str:
        pipeline = build_feature_pipeline(name, featurize | {name: block})
        matrix = pipeline.fit_transform(movies, _y(movies))
        return describe_features(pipeline, matrix)["fingerprint"]

    base = dict(featurize["v2_bigrams"], overview_max_features=5, title_max_features=3)
    same = fingerprint("v2_bigrams", base)
    assert fingerprint("v2_bigrams", dict(base, ngram_max=3)) == same
    assert fingerprint("v2_bigrams", dict(base, overview_max_features=6)) != same
    assert (
        describe_features(
            build_feature_pipeline("v2_bigrams", featurize).fit(movies, _y(movies)),
            np.zeros((2, 2)),
        )["fingerprint"]
        != same
    )


def test_unknown_pipeline_name(repo_params):
    with pytest.raises(UnknownNameError, match="v1_original"):
        build_feature_pipeline("v9_nope", repo_params["featurize"])


def test_bad_block_names_the_full_key(repo_params):
    featurize = dict(repo_params["featurize"])
    featurize["v2_bigrams"] = dict(featurize["v2_bigrams"], ngram_max=0)
    with pytest.raises(ParamsError, match=r"featurize\.v2_bigrams\.ngram_max"):
        build_feature_pipeline("v2_bigrams", featurize)
