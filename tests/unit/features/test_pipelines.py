"""Every registered feature pipeline, configured from params.yaml, on a small synthetic frame."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from movie_rating.data.schema import FORBIDDEN_FEATURES, TARGET
from movie_rating.features.pipelines import PIPELINES, build_feature_pipeline, describe_features
from movie_rating.params import ParamsError
from movie_rating.registry import UnknownNameError

pipeline_names = pytest.mark.parametrize("name", sorted(PIPELINES))


def _dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _y(frame):
    # Supervised blocks (out-of-fold stacking) need the target; the others ignore it.
    return frame[TARGET].to_numpy()


@pipeline_names
def test_fits_and_transforms(name, repo_params, movies):
    pipeline = build_feature_pipeline(name, repo_params["featurize"])
    out = _dense(pipeline.fit_transform(movies, _y(movies)))
    names = list(pipeline.get_feature_names_out())

    assert out.shape == (len(movies), len(names))
    assert np.isfinite(out).all()
    assert len(set(names)) == len(names)


@pipeline_names
def test_transforms_unseen_rows(name, repo_params, movies, movie_factory):
    pipeline = build_feature_pipeline(name, repo_params["featurize"]).fit(movies, _y(movies))
    new = movie_factory(7, seed=99)
    new.loc[0, "original_language"] = "xx"
    new.loc[1, "genre"] = "Western"
    new.loc[2, "release_date"] = "not a date"
    new.loc[3, "overview"] = ""
    out = _dense(pipeline.transform(new))
    assert out.shape == (7, len(pipeline.get_feature_names_out()))
    assert np.isfinite(out).all()


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
    summary = describe_features(fitted)
    assert summary["features"] == [str(n) for n in fitted.get_feature_names_out()]
    assert summary["n_features"] == fitted.transform(movies).shape[1]
    assert sum(summary["features_by_block"].values()) == summary["n_features"]
    assert {"genres", "categorical", "numeric"} <= set(summary["features_by_block"])


def test_params_change_the_built_pipeline(repo_params, movies):
    featurize = dict(repo_params["featurize"])
    block = dict(featurize["v1_original"], overview_max_features=3, title_max_features=2)
    small = build_feature_pipeline("v1_original", featurize | {"v1_original": block})
    blocks = describe_features(small.fit(movies, _y(movies)))["features_by_block"]
    assert blocks["overview"] == 3
    assert blocks["title"] == 2


def test_unknown_pipeline_name(repo_params):
    with pytest.raises(UnknownNameError, match="v1_original"):
        build_feature_pipeline("v9_nope", repo_params["featurize"])


def test_bad_block_names_the_full_key(repo_params):
    featurize = dict(repo_params["featurize"])
    featurize["v2_bigrams"] = dict(featurize["v2_bigrams"], ngram_max=0)
    with pytest.raises(ParamsError, match=r"featurize\.v2_bigrams\.ngram_max"):
        build_feature_pipeline("v2_bigrams", featurize)
