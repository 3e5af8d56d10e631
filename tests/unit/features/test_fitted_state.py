"""The fitted-state contract of every `FeatureTransformer`: unfitted ones refuse to transform
with scikit-learn's `NotFittedError`, fit sets the attribute they check, `clone` drops it."""

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge
from sklearn.utils.validation import check_is_fitted

from movie_rating.data.schema import TARGET
from movie_rating.features import blocks, stacking, transformers
from movie_rating.features.base import FeatureTransformer, check_fitted
from movie_rating.features.text import TextTfidf

Make = Callable[[], FeatureTransformer]
Input = Callable[[pd.DataFrame], Any]

# class -> (a configured instance, the input it transforms)
STATEFUL: dict[str, tuple[Make, Input]] = {
    "ColumnSelector": (lambda: transformers.ColumnSelector(columns=("title",)), lambda f: f),
    "DataTypeFixer": (transformers.DataTypeFixer, lambda f: f),
    "YearBinning": (transformers.YearBinning, lambda f: {"release_year": [1999.0, 2021.0]}),
    "LanguageGrouper": (transformers.LanguageGrouper, lambda f: f),
    "SelectiveStandardScaler": (
        lambda: transformers.SelectiveStandardScaler(columns=("vote_count",)),
        lambda f: f,
    ),
    "GenreMultiLabelEncoder": (transformers.GenreMultiLabelEncoder, lambda f: f["genre"]),
    "LightweightTextEmbedder": (
        lambda: transformers.LightweightTextEmbedder(min_df=1),
        lambda f: f["overview"],
    ),
    "CategoricalOneHotEncoder": (
        transformers.CategoricalOneHotEncoder,
        lambda f: f[["original_language", "genre"]],
    ),
    "OutOfFoldRegressor": (
        lambda: stacking.OutOfFoldRegressor(TextTfidf(), Ridge(), n_splits=3, random_state=0),
        lambda f: f["overview"],
    ),
    "TargetEncodedKeys": (
        lambda: stacking.TargetEncodedKeys(stacking.TitlePrefixes(), n_splits=3, random_state=0),
        lambda f: f["title"],
    ),
    "ColumnBlocks": (
        lambda: blocks.ColumnBlocks([("genres", transformers.GenreMultiLabelEncoder(), "genre")]),
        lambda f: f,
    ),
}
STATELESS: dict[str, tuple[Make, Input]] = {
    "ReleaseContextFeatures": (stacking.ReleaseContextFeatures, lambda f: f),
    "TitlePrefixes": (stacking.TitlePrefixes, lambda f: f["title"]),
    "ReleaseKeys": (stacking.ReleaseKeys, lambda f: f),
}


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}


def test_every_feature_transformer_is_covered():
    modules = {transformers.__name__, stacking.__name__, blocks.__name__}
    found = {cls.__name__ for cls in _subclasses(FeatureTransformer) if cls.__module__ in modules}
    assert found == set(STATEFUL) | set(STATELESS)


def _y(frame: pd.DataFrame) -> np.ndarray:
    return frame[TARGET].to_numpy()


def _same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert list(a) == list(b)
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    else:
        np.testing.assert_array_equal(
            a.toarray() if sp.issparse(a) else a, b.toarray() if sp.issparse(b) else b
        )


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_unfitted_transformers_refuse_to_transform(name, movies):
    make, input_of = STATEFUL[name]
    estimator = make()
    assert not estimator.__sklearn_is_fitted__()
    with pytest.raises(NotFittedError, match=f"This {name} instance is not fitted yet"):
        estimator.transform(input_of(movies))
    with pytest.raises(NotFittedError):
        estimator.get_feature_names_out()
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_fit_sets_the_checked_attribute_and_clone_drops_it(name, movies):
    make, input_of = STATEFUL[name]
    X, y = input_of(movies), _y(movies)
    fitted = make().fit(X, y)
    assert fitted.__sklearn_is_fitted__()
    assert hasattr(fitted, fitted._fitted_attribute)
    check_is_fitted(fitted)
    learned = [attr for attr in vars(fitted) if attr.endswith("_") and not attr.startswith("_")]
    assert learned

    copy = clone(fitted)
    assert type(copy) is type(fitted)
    assert repr(copy) == repr(fitted)  # the same params
    assert not [attr for attr in vars(copy) if attr.endswith("_") and not attr.startswith("_")]
    assert not copy.__sklearn_is_fitted__()
    with pytest.raises(NotFittedError):
        copy.transform(X)
    _same(copy.fit(X, y).transform(X), fitted.transform(X))
    _same(pickle.loads(pickle.dumps(fitted)).transform(X), fitted.transform(X))


@pytest.mark.parametrize("name", sorted(STATELESS))
def test_stateless_transformers_need_no_fit(name, movies):
    make, input_of = STATELESS[name]
    X = input_of(movies)
    estimator = make()
    assert estimator._fitted_attribute is None
    assert estimator.__sklearn_is_fitted__()
    check_is_fitted(estimator)
    _same(estimator.transform(X), clone(estimator).fit(X).transform(X))
    assert len(estimator.get_feature_names_out()) == estimator.transform(X).shape[1]


def test_the_fitted_attribute_is_the_last_one_fit_sets(movies):
    """A fit that fails before its end must leave the estimator unfitted."""
    encoder = stacking.TargetEncodedKeys(stacking.TitlePrefixes(), n_splits=3)
    with pytest.raises(ValueError):
        encoder.fit(movies["title"], _y(movies)[:5])  # the target does not match the rows
    assert not encoder.__sklearn_is_fitted__()
    with pytest.raises(NotFittedError):
        encoder.transform(movies["title"])


def test_check_fitted_names_the_estimator():
    class Thing:
        pass

    thing = Thing()
    with pytest.raises(NotFittedError, match="This Thing instance is not fitted yet"):
        check_fitted(thing, "vocabulary_")
    thing.vocabulary_ = {}
    check_fitted(thing, "vocabulary_")


@pytest.mark.parametrize("name", sorted(STATEFUL | STATELESS))
def test_transform_is_not_wrapped_for_set_output(name, movies):
    """set_output would convert what the steps return (batches of columns, matrices)."""
    make, input_of = (STATEFUL | STATELESS)[name]
    estimator = make()
    assert not hasattr(estimator, "set_output")
    X = input_of(movies)
    expected = type(make().fit(X, _y(movies)).transform(X))
    assert type(estimator.fit_transform(X, _y(movies))) is expected
