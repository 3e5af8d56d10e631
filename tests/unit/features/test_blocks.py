"""`ColumnBlocks` writes what scikit-learn's `ColumnTransformer` writes for the same blocks."""

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError

from movie_rating.data.schema import TARGET
from movie_rating.features.blocks import ColumnBlocks
from movie_rating.features.pipelines import PIPELINES, build_feature_pipeline
from movie_rating.features.transformers import (
    CategoricalOneHotEncoder,
    GenreMultiLabelEncoder,
    LightweightTextEmbedder,
)
from movie_rating.params import load_params

NUMERIC = ["release_year", "release_month", "title_words", "overview_words"]


def v1_style_blocks() -> list[tuple[str, Any, Any]]:
    return [
        ("overview", LightweightTextEmbedder(max_features=20, ngram_range=(1, 2)), "overview"),
        ("title", LightweightTextEmbedder(max_features=8), "title"),
        ("genres", GenreMultiLabelEncoder(), "genre"),
        ("categorical", CategoricalOneHotEncoder(), ["original_language", "release_period"]),
        ("numeric", "passthrough", NUMERIC),
    ]


def frame_steps_output(name: str, train: pd.DataFrame, *frames: pd.DataFrame) -> list[Any]:
    """What a registered pipeline's frame steps make of each frame (fitted on `train`)."""
    params = load_params(Path(__file__).resolve().parents[3] / "params.yaml")["featurize"]
    steps = build_feature_pipeline(name, params)[:-1].fit(train)
    return [steps.transform(frame) for frame in (train, *frames)]


def assert_canonical_csr(matrix: Any) -> None:
    assert sp.issparse(matrix)
    assert matrix.format == "csr"
    assert matrix.dtype == np.float64
    assert matrix.indices.dtype == np.int32
    assert matrix.has_sorted_indices
    assert (matrix.data != 0).all()


def test_equals_column_transformer_on_a_v1_style_pipeline(movies, movie_factory):
    y = movies[TARGET].to_numpy()
    train, new = frame_steps_output("v1_original", movies, movie_factory(25, seed=5))
    train_frame, new_frame = pd.DataFrame(train), pd.DataFrame(new)
    reference = ColumnTransformer(v1_style_blocks(), sparse_threshold=1.0)
    ours = ColumnBlocks(v1_style_blocks(), sparse_threshold=1.0)

    expected_fit = reference.fit_transform(train_frame, y)
    assert sp.issparse(expected_fit)  # a sparse block makes the stack sparse
    for got, expected in (
        (ours.fit_transform(train_frame, y), expected_fit),
        (ours.transform(new_frame), reference.transform(new_frame)),
        (ours.transform(new), reference.transform(new_frame)),  # columns, not a frame
        (clone(ours).fit(train, y).transform(new), reference.transform(new_frame)),
    ):
        assert_canonical_csr(got)
        assert got.shape == expected.shape
        assert np.array_equal(got.toarray(), expected.toarray())
    np.testing.assert_array_equal(ours.get_feature_names_out(), reference.get_feature_names_out())
    assert ours.widths_ == [20, 8, len(ours.blocks_[2][1].genres_), ours.widths_[3], 4]


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_registered_encode_step_equals_column_transformer(name, movies, movie_factory):
    """Dense, as every registered pipeline stacks its blocks; and CSR when asked (when a
    block is sparse)."""
    y = movies[TARGET].to_numpy()
    train, new = frame_steps_output(name, movies, movie_factory(25, seed=6))
    params = load_params(Path(__file__).resolve().parents[3] / "params.yaml")["featurize"]
    registered = build_feature_pipeline(name, params)[-1]
    for threshold in (registered.sparse_threshold, 1.0):
        ours = clone(registered).set_params(sparse_threshold=threshold)
        reference = ColumnTransformer(registered.blocks, sparse_threshold=threshold)
        expected = reference.fit_transform(pd.DataFrame(train), y)  # out of fold, for v5
        got = ours.fit_transform(train, y)
        assert sp.issparse(got) == sp.issparse(expected) == ours.sparse_output_
        if ours.sparse_output_:
            assert_canonical_csr(got)
        assert np.array_equal(_dense(got), _dense(expected))
        got = ours.transform(new)
        assert np.array_equal(_dense(got), _dense(reference.transform(pd.DataFrame(new))))
        np.testing.assert_array_equal(
            ours.get_feature_names_out(), reference.get_feature_names_out()
        )


def _dense(matrix: Any) -> np.ndarray:
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def test_dense_blocks_stack_as_an_array():
    """As `ColumnTransformer`: no sparse block, no sparse stack, whatever the threshold."""
    columns = {"a": np.array([0.0, 1.5, 0.0]), "b": np.array([2.0, 0.0, -1.0])}
    blocks = ColumnBlocks(
        [("numbers", "passthrough", ["a", "b"]), ("one", "passthrough", "a")], sparse_threshold=1
    )
    out = blocks.fit_transform(columns)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.0, 2.0, 0.0], [1.5, 0.0, 1.5], [0, -1, 0]])
    assert list(blocks.get_feature_names_out()) == ["numbers__a", "numbers__b", "one__a"]


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 1.0])
def test_the_density_when_fitted_chooses_the_output(threshold):
    """Sparse below the threshold, as `ColumnTransformer`; `transform` keeps the fitted choice
    even for rows of another density."""
    columns = {"overview": np.array(["alpha beta", "gamma", "delta", "alpha"], dtype=object)}
    entries = [("overview", LightweightTextEmbedder(min_df=1), "overview")]  # 5 of 16 stored
    ours = ColumnBlocks(entries, sparse_threshold=threshold)
    reference = ColumnTransformer(entries, sparse_threshold=threshold)
    got = ours.fit_transform(columns)
    expected = reference.fit_transform(pd.DataFrame(columns))
    assert ours.sparse_output_ == reference.sparse_output_ == (threshold > 5 / 16)
    assert sp.issparse(got) == sp.issparse(expected) == ours.sparse_output_
    assert np.array_equal(_dense(got), _dense(expected))
    one_row = {name: values[:1] for name, values in columns.items()}  # density 2/4
    assert sp.issparse(ours.transform(one_row)) == ours.sparse_output_


class Wide(TransformerMixin, BaseEstimator):
    """A sparse block of 5000 columns (whatever the input)."""

    def fit(self, X: Any, y: Any = None) -> "Wide":
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        return sp.random(len(X["a"]), 5000, density=0.01, format="csr", random_state=0)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"w{i}" for i in range(5000)], dtype=object)


def test_wide_outputs_equal_column_transformer():
    """Past a few thousand columns blocks are stacked sparse: the same matrix."""
    rng = np.random.default_rng(0)
    n = 30
    columns = {"a": rng.normal(size=n), "b": np.where(rng.random(n) < 0.5, 0.0, 1.0)}
    entries = [("wide", Wide(), ["a"]), ("numeric", "passthrough", ["a", "b"])]
    blocks = ColumnBlocks(entries, sparse_threshold=1.0)
    out = blocks.fit_transform(columns)
    reference = ColumnTransformer(entries, sparse_threshold=1.0)
    expected = reference.fit_transform(pd.DataFrame(columns))
    assert out.format == "csr"
    assert out.dtype == np.float64
    assert out.has_sorted_indices
    assert out.shape == (n, 5002)
    assert np.array_equal(out.toarray(), expected.toarray())
    np.testing.assert_array_equal(blocks.get_feature_names_out(), reference.get_feature_names_out())


class Marked(TransformerMixin, BaseEstimator):
    """fit_transform gives -1 and keeps the target it saw; transform gives column "a"."""

    def fit(self, X: Any, y: Any = None) -> "Marked":
        self.n_features_in_ = 1
        return self

    def fit_transform(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        self.fit(X, y)
        self.seen_y_ = y
        return np.full((len(X["a"]), 1), -1.0)

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X["a"], dtype=np.float64).reshape(-1, 1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(["a"], dtype=object)


def test_each_block_is_fitted_with_fit_transform_and_the_target():
    """An out-of-fold block's fit_transform is not its fit(...).transform(...)."""
    columns = {"a": np.array([1.0, 2.0])}
    blocks = ColumnBlocks([("marked", Marked(), ["a"])])
    np.testing.assert_array_equal(blocks.fit_transform(columns, [5, 6]), [[-1], [-1]])
    np.testing.assert_array_equal(blocks.blocks_[0][1].seen_y_, [5, 6])
    assert blocks.transform(columns).tolist() == [[1.0], [2.0]]
    assert not hasattr(blocks.blocks[0][1], "seen_y_")  # fitted a clone, not the given block
    # fit is fit_transform too: the blocks are fitted the same way
    assert ColumnBlocks([("marked", Marked(), ["a"])]).fit(columns, [7, 8]).blocks_[0][
        1
    ].seen_y_ == [7, 8]


@pytest.mark.parametrize("names", [["a", "a"], ["a__b"]])
def test_block_names_are_distinct_and_free_of_the_separator(names):
    entries = [(name, "passthrough", ["x"]) for name in names]
    with pytest.raises(ValueError, match="distinct"):
        ColumnBlocks(entries).fit({"x": np.array([1.0])})


def test_missing_columns_are_named():
    blocks = ColumnBlocks([("numeric", "passthrough", ["x", "y"])]).fit({"x": [1.0], "y": [2.0]})
    with pytest.raises(KeyError, match="'y'"):
        blocks.transform({"x": [1.0]})


def test_unfitted_clone_and_pickle():
    columns = {"genre": np.array(["Drama", "Comedy, Drama"], dtype=object)}
    blocks = ColumnBlocks([("genres", GenreMultiLabelEncoder(), "genre")])
    with pytest.raises(NotFittedError):
        blocks.transform(columns)
    fitted = clone(blocks).fit(columns)
    assert not hasattr(clone(fitted), "blocks_")
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(columns), fitted.transform(columns))
    assert list(fitted.get_feature_names_out()) == ["genres__genre_Comedy", "genres__genre_Drama"]
    assert fitted.n_features_in_ == 1


def test_one_pickled_before_the_threshold_existed_still_stacks_csr():
    """An exported model of an earlier version (the registry keeps them) loads and rates."""
    columns = {"overview": np.array(["alpha beta", "gamma", "alpha"], dtype=object)}
    fitted = ColumnBlocks([("overview", LightweightTextEmbedder(min_df=1), "overview")])
    fitted.set_params(sparse_threshold=1.0).fit(columns)
    expected = fitted.transform(columns)
    del fitted.sparse_threshold, fitted.sparse_output_  # as it was pickled then
    restored = pickle.loads(pickle.dumps(fitted))
    got = restored.transform(columns)
    assert_canonical_csr(got)
    assert np.array_equal(got.toarray(), expected.toarray())
    assert clone(restored).get_params()["sparse_threshold"] == 1.0


def test_an_empty_batch_has_no_rows():
    columns = {"overview": np.array(["alpha", "beta"], dtype=object), "x": np.array([1.0, 2.0])}
    entries = [
        ("overview", LightweightTextEmbedder(min_df=1), "overview"),
        ("x", "passthrough", ["x"]),
    ]
    for threshold in (0.0, 1.0):
        blocks = ColumnBlocks(entries, sparse_threshold=threshold).fit(columns)
        empty = {"overview": np.array([], dtype=object), "x": np.array([])}
        out = blocks.transform(empty)
        assert out.shape == (0, 3)  # "alpha", "beta", x
        assert sp.issparse(out) == (threshold == 1.0)
