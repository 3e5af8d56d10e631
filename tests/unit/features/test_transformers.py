"""scikit-learn contract of the custom transformers, on the inputs they see in the pipeline.

The frame-level steps take a DataFrame or a batch of named columns (a dict of 1-D arrays) and
return a batch of columns; the encoders take one column (or a batch of columns) and return a
matrix. SelectiveStandardScaler and CategoricalOneHotEncoder also take 2-D numpy arrays and
go through `parametrize_with_checks`; the others select columns by name or read strings,
which sklearn's generic checks cannot feed: they get the same guarantees checked explicitly
below (clone, params, unfitted errors, feature names, pickling, unseen categories).
"""

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.features.blocks import ColumnBlocks
from movie_rating.features.columns import Columns
from movie_rating.features.text import TextTfidf
from movie_rating.features.transformers import (
    OTHER_LANGUAGE,
    CategoricalOneHotEncoder,
    ColumnSelector,
    DataTypeFixer,
    GenreMultiLabelEncoder,
    LanguageGrouper,
    LightweightTextEmbedder,
    SelectiveStandardScaler,
    YearBinning,
)

# --- sklearn's generic estimator checks, where they apply -----------------------------------------

# The one-hot encoder's transform is a lookup without scikit-learn's input validation (its
# cost is the point).
_NO_VALIDATION = "transform looks values up without scikit-learn's input validation"
_EXPECTED_FAILURES: dict[type, dict[str, str]] = {
    SelectiveStandardScaler: {},
    CategoricalOneHotEncoder: {
        # NaN is one more category (as OneHotEncoder has it); rejecting it would be wrong here
        "check_estimators_nan_inf": "NaN is a valid category for a one-hot encoder",
        "check_complex_data": "OneHotEncoder's own message, not the one the check expects",
        "check_fit2d_predict1d": _NO_VALIDATION,
        "check_n_features_in_after_fitting": _NO_VALIDATION,
    },
}


@parametrize_with_checks(
    [SelectiveStandardScaler(), CategoricalOneHotEncoder()],
    expected_failed_checks=lambda estimator: _EXPECTED_FAILURES[type(estimator)],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --- the same guarantees, checked explicitly for every transformer ------------------------------


def as_array(output: Any) -> np.ndarray:
    """Any step's output as one 2-D array (a batch of columns side by side)."""
    if sp.issparse(output):
        return output.toarray()
    if isinstance(output, dict):
        return np.column_stack([np.asarray(v, dtype=object) for v in output.values()])
    return np.asarray(output)


def assert_same_output(got: Any, expected: Any) -> None:
    assert type(got) is type(expected)
    if isinstance(expected, dict):
        assert list(got) == list(expected)
        for name, values in expected.items():
            assert isinstance(got[name], np.ndarray)
            assert got[name].dtype == values.dtype, name
            np.testing.assert_array_equal(got[name], values, err_msg=name)
    else:
        assert got.shape == expected.shape
        np.testing.assert_array_equal(as_array(got), as_array(expected))


def in_days(columns: Columns) -> Columns:
    return {
        name: values.astype("datetime64[D]") if values.dtype.kind == "M" else values
        for name, values in columns.items()
    }


def width(output: Any) -> int:
    return len(output) if isinstance(output, dict) else output.shape[1]


def rows(output: Any) -> int:
    if isinstance(output, dict):
        return len(next(iter(output.values())))
    return output.shape[0] if hasattr(output, "shape") else len(output)


def selected(frame: pd.DataFrame) -> Columns:
    return ColumnSelector(columns=INPUT_FEATURES).fit_transform(frame)


def fixed(frame: pd.DataFrame) -> Columns:
    return DataTypeFixer().fit_transform(selected(frame))


def binned(frame: pd.DataFrame) -> Columns:
    return YearBinning(edges=(1980, 2000)).fit_transform(fixed(frame))


def blocks(columns: list[str]) -> ColumnBlocks:
    return ColumnBlocks(
        [
            ("genres", GenreMultiLabelEncoder(), "genre"),
            ("text", LightweightTextEmbedder(max_features=10), "overview"),
            ("numeric", "passthrough", columns),
        ]
    )


@dataclass(frozen=True)
class Case:
    """A transformer, the input it sees inside the feature pipeline, and a params change."""

    make: Callable[[], Any]
    input_of: Callable[[pd.DataFrame], Any]
    new_params: dict[str, Any] | None
    # (output before the change, output after) -> did the params change change behaviour
    changed: Callable[[Any, Any], bool]


CASES: dict[str, Case] = {
    "ColumnSelector": Case(
        lambda: ColumnSelector(columns=("title", "genre")),
        lambda f: f,
        {"columns": ("title",)},
        lambda a, b: list(a) == ["title", "genre"] and list(b) == ["title"],
    ),
    "DataTypeFixer": Case(
        DataTypeFixer,
        selected,
        {"length_columns": ("title",)},
        lambda a, b: "overview_words" in a and "overview_words" not in b,
    ),
    "YearBinning": Case(
        lambda: YearBinning(edges=(1980, 2000)),
        fixed,
        {"edges": (2000,)},
        lambda a, b: len(set(a["release_period"])) == 3 and len(set(b["release_period"])) == 2,
    ),
    "LanguageGrouper": Case(
        lambda: LanguageGrouper(min_count=10),
        binned,
        {"min_count": 1},
        lambda a, b: (
            (a["original_language"] == OTHER_LANGUAGE).any()
            and not (b["original_language"] == OTHER_LANGUAGE).any()
        ),
    ),
    "SelectiveStandardScaler": Case(
        lambda: SelectiveStandardScaler(columns=("release_year", "title_words")),
        binned,
        {"columns": ("release_year",)},
        lambda a, b: abs(a["title_words"].mean()) < 1e-9 and abs(b["title_words"].mean()) > 0.5,
    ),
    "GenreMultiLabelEncoder": Case(
        GenreMultiLabelEncoder,
        lambda f: fixed(f)["genre"],
        {"min_count": 20},
        lambda a, b: width(b) < width(a),
    ),
    "LightweightTextEmbedder": Case(
        LightweightTextEmbedder,
        lambda f: fixed(f)["overview"],
        {"max_features": 5},
        lambda a, b: width(a) > 5 and width(b) == 5,
    ),
    "CategoricalOneHotEncoder": Case(
        CategoricalOneHotEncoder,
        lambda f: {name: binned(f)[name] for name in ("original_language", "release_period")},
        None,  # no parameters: scikit-learn's OneHotEncoder learns the categories
        lambda a, b: False,
    ),
    "TextTfidf": Case(
        TextTfidf,
        lambda f: fixed(f)["overview"],
        {"ngram_range": (1, 2)},
        lambda a, b: width(b) > width(a),
    ),
    "ColumnBlocks": Case(
        lambda: blocks(["release_year", "title_words"]),
        binned,
        {"blocks": blocks(["release_year"]).blocks},
        lambda a, b: width(b) == width(a) - 1,
    ),
}

case_names = pytest.mark.parametrize("name", sorted(CASES))
FRAME_STEPS = [
    "ColumnSelector",
    "DataTypeFixer",
    "YearBinning",
    "LanguageGrouper",
    "SelectiveStandardScaler",
]


@pytest.fixture
def case_input(movies):
    def build(name: str) -> Any:
        return CASES[name].input_of(movies)

    return build


@case_names
def test_init_only_stores_its_arguments(name):
    estimator = CASES[name].make()
    assert vars(estimator) == estimator.get_params(deep=False)
    assert not [attr for attr in vars(estimator) if attr.endswith("_")]


@case_names
def test_unfitted_transform_and_feature_names_raise(name, case_input):
    estimator = CASES[name].make()
    with pytest.raises(NotFittedError):
        estimator.transform(case_input(name))
    with pytest.raises(NotFittedError):
        estimator.get_feature_names_out()


@case_names
def test_fit_returns_self_and_keeps_rows(name, case_input):
    estimator = CASES[name].make()
    X = case_input(name)
    assert estimator.fit(X) is estimator
    assert rows(estimator.transform(X)) == rows(X)


@case_names
def test_clone_round_trip(name, case_input):
    X = case_input(name)
    fitted = CASES[name].make().fit(X)
    copy = clone(fitted)
    assert copy.get_params().keys() == fitted.get_params().keys()
    assert repr(copy) == repr(fitted)
    with pytest.raises(NotFittedError):
        copy.transform(X)  # clone copies params, never learned state
    assert_same_output(copy.fit(X).transform(X), fitted.transform(X))


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case.new_params))
def test_set_params_changes_behaviour(name, case_input):
    case = CASES[name]
    X = case_input(name)
    before = case.make().fit(X).transform(X)
    changed = case.make().set_params(**case.new_params)
    assert changed.get_params() | case.new_params == changed.get_params()
    after = changed.fit(X).transform(X)
    assert case.changed(before, after)
    # and refitting a fitted estimator with new params is the same as a fresh fit
    refitted = case.make().fit(X)
    refitted.transform(X)
    refitted.set_params(**case.new_params).fit(X)
    assert_same_output(refitted.transform(X), after)


@case_names
def test_feature_names_match_output(name, case_input):
    X = case_input(name)
    estimator = CASES[name].make().fit(X)
    output = estimator.transform(X)
    names = list(estimator.get_feature_names_out())
    assert len(names) == width(output)
    assert len(set(names)) == len(names)
    if isinstance(output, dict):
        assert names == list(output)


@case_names
def test_pickle_round_trip_gives_identical_output(name, case_input):
    X = case_input(name)
    fitted = CASES[name].make().fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    assert_same_output(restored.transform(X), fitted.transform(X))
    assert_same_output(restored.fit(X).transform(X), clone(fitted).fit(X).transform(X))


@pytest.mark.parametrize("name", FRAME_STEPS)
def test_frame_steps_take_a_frame_or_columns_and_return_columns(name, case_input):
    columns = case_input(name)
    if isinstance(columns, pd.DataFrame):
        columns = {name: columns[name].to_numpy() for name in columns}
    frame = pd.DataFrame(columns)
    from_columns = CASES[name].make().fit(columns)
    from_frame = CASES[name].make().fit(frame)
    out = from_columns.transform(columns)
    assert isinstance(out, dict)
    for values in out.values():
        assert isinstance(values, np.ndarray)
        assert values.shape == (rows(columns),)
    # (pandas stores datetime64[D] as datetime64[s], and steps after the date parse pass the
    # date column through as they got it)
    assert_same_output(in_days(from_frame.transform(frame)), out)
    assert_same_output(in_days(from_columns.transform(frame)), out)
    if name in ("ColumnSelector", "DataTypeFixer"):  # the steps that read raw text
        lists = {column: values.tolist() for column, values in columns.items()}
        assert_same_output(from_columns.transform(lists), out)


@pytest.mark.parametrize("name", FRAME_STEPS[:4])
def test_frame_transformers_reject_arrays(name, case_input):
    X = pd.DataFrame(case_input(name))
    estimator = CASES[name].make()
    with pytest.raises(TypeError, match="DataFrame"):
        estimator.fit(X.to_numpy())


# --- behaviour on data the training set never showed ---------------------------------------------


def test_unseen_genres_are_ignored():
    encoder = GenreMultiLabelEncoder().fit(pd.Series(["Drama, Comedy", "Drama", "Horror"]))
    out = encoder.transform(pd.Series(["Western, Drama", "Western", "", None]))
    names = list(encoder.get_feature_names_out())
    assert names == ["genre_Comedy", "genre_Drama", "genre_Horror"]
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_genres_are_stripped_and_blank_genres_dropped():
    encoder = GenreMultiLabelEncoder().fit(["Drama,Comedy", " Drama , , Horror ,"])
    assert list(encoder.get_feature_names_out()) == ["genre_Comedy", "genre_Drama", "genre_Horror"]
    out = encoder.transform(np.array(["Horror ,Drama", "Drama,Drama", ","], dtype=object))
    np.testing.assert_array_equal(out, [[0, 1, 1], [0, 1, 0], [0, 0, 0]])


def test_genre_min_count_drops_rare_genres():
    encoder = GenreMultiLabelEncoder(min_count=2).fit(pd.Series(["Drama, Comedy", "Drama"]))
    assert list(encoder.get_feature_names_out()) == ["genre_Drama"]


def test_unseen_and_rare_languages_become_other():
    train = {"original_language": np.array(["en"] * 3 + ["fr"], dtype=object)}
    grouper = LanguageGrouper(min_count=2).fit(train)
    out = grouper.transform(pd.DataFrame({"original_language": ["en", "fr", "xx", None]}))
    assert list(out["original_language"]) == ["en", OTHER_LANGUAGE, OTHER_LANGUAGE, OTHER_LANGUAGE]
    assert list(grouper.get_feature_names_out()) == ["original_language"]


def test_unseen_category_encodes_as_all_zeros():
    train = pd.DataFrame({"original_language": ["en", "fr"], "release_period": ["a", "b"]})
    encoder = CategoricalOneHotEncoder().fit(train)
    unseen = {"original_language": np.array(["zz"]), "release_period": np.array(["a"])}
    row = encoder.transform(unseen)[0]
    names = list(encoder.get_feature_names_out())
    assert row.sum() == 1.0
    assert names[int(np.argmax(row))] == "release_period_a"


def _categorical_inputs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "original_language": rng.choice(["en", "fr", "ja", "other"], size=50),
            "release_period": rng.choice(["-1979", "1980-1999", "2000-"], size=50),
            "genre": rng.choice(["Drama", "Comedy", ""], size=50),
        }
    )
    new = pd.DataFrame(
        {
            "original_language": ["en", "xx", "ja", "", "fr"],
            "release_period": ["2000-", "-1979", "1950s", "1980-1999", "2000-"],
            "genre": ["Drama", "Western", "", "Comedy", "drama"],
        }
    )
    return train, new


@pytest.mark.parametrize("given_as", ["frame", "columns", "array"])
def test_one_hot_encoding_equals_scikit_learn(given_as):
    train, new = _categorical_inputs()
    reference = OneHotEncoder(handle_unknown="ignore").fit(
        train if given_as != "array" else train.to_numpy(dtype=object)
    )

    def given(frame: pd.DataFrame) -> Any:
        if given_as == "frame":
            return frame
        if given_as == "columns":
            return {name: frame[name].to_numpy(dtype=object) for name in frame}
        return frame.to_numpy(dtype=object)

    encoder = CategoricalOneHotEncoder().fit(given(train))
    ref_new = new if given_as != "array" else new.to_numpy(dtype=object)
    for ours, theirs in ((given(train), train), (given(new), ref_new)):
        if given_as == "array" and theirs is train:
            theirs = train.to_numpy(dtype=object)
        out = encoder.transform(ours)
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, reference.transform(theirs).toarray())
    np.testing.assert_array_equal(
        encoder.get_feature_names_out(), reference.get_feature_names_out()
    )
    assert encoder.n_features_in_ == reference.n_features_in_ == 3


def test_one_hot_encoding_of_numbers_equals_scikit_learn():
    train = np.array([[1.0, 10.0], [2.0, 20.0], [1.0, 30.0], [3.0, 10.0]])
    new = np.array([[1.0, 20.0], [4.0, 10.0], [2.0, 99.0]])
    encoder = CategoricalOneHotEncoder().fit(train)
    reference = OneHotEncoder(handle_unknown="ignore").fit(train)
    np.testing.assert_array_equal(encoder.transform(new), reference.transform(new).toarray())
    np.testing.assert_array_equal(
        encoder.get_feature_names_out(["a", "b"]), reference.get_feature_names_out(["a", "b"])
    )


def test_a_nan_category_is_encoded_as_scikit_learn_does():
    train = np.array([[1.0], [np.nan], [2.0]])
    encoder = CategoricalOneHotEncoder().fit(train)
    reference = OneHotEncoder(handle_unknown="ignore").fit(train)
    np.testing.assert_array_equal(encoder.transform(train), reference.transform(train).toarray())


def test_columns_in_another_order_are_refused_or_read_by_name():
    train, new = _categorical_inputs()
    encoder = CategoricalOneHotEncoder().fit(train)
    expected = encoder.transform(new)
    reordered = new[list(reversed(new.columns))]
    try:
        out = encoder.transform(reordered)
    except ValueError:
        return
    np.testing.assert_array_equal(out, expected)


def test_text_embedder_ignores_unseen_words():
    embedder = LightweightTextEmbedder(min_df=1).fit(pd.Series(["robot planet", "robot ghost"]))
    out = embedder.transform(pd.Series(["zebra xylophone", "", None]))
    assert sp.issparse(out)
    assert out.format == "csr"
    assert out.shape == (3, 3)
    assert out.nnz == 0


def test_text_embedder_is_its_vectorizer():
    docs = ["robot planet", "robot ghost", "the ghost of the planet", "robot robot war"]
    embedder = LightweightTextEmbedder(max_features=3, ngram_range=(1, 2), min_df=1).fit(docs)
    vectorizer = TextTfidf(
        max_features=3, ngram_range=(1, 2), stop_words="english", min_df=1, sublinear_tf=True
    ).fit(docs)
    assert embedder.vectorizer_.vocabulary_ == vectorizer.vocabulary_
    np.testing.assert_array_equal(
        embedder.transform(docs).toarray(), vectorizer.transform(docs).toarray()
    )
    assert list(embedder.get_feature_names_out()) == list(vectorizer.get_feature_names_out())


def test_text_embedder_min_df_never_exceeds_the_documents():
    embedder = LightweightTextEmbedder(min_df=5).fit(["robot planet"])  # one document
    assert list(embedder.get_feature_names_out()) == ["planet", "robot"]


@pytest.mark.parametrize("make", [GenreMultiLabelEncoder, LightweightTextEmbedder])
def test_single_column_transformers_reject_several_columns(make):
    # Regression: a 2-column array used to be flattened into twice as many output rows.
    two_columns = np.array([["robot planet", "ghost"], ["robot ghost", "planet"]], dtype=object)
    with pytest.raises(ValueError, match="one column"):
        make().fit(two_columns)
    with pytest.raises(ValueError, match="one column"):
        make().fit(pd.DataFrame(two_columns, columns=["a", "b"]))
    with pytest.raises(ValueError, match="one column"):
        make().fit({"a": two_columns[:, 0], "b": two_columns[:, 1]})


@pytest.mark.parametrize("make", [GenreMultiLabelEncoder, LightweightTextEmbedder])
def test_single_column_transformers_accept_one_column_shapes(make):
    values = ["Drama, robot", "Drama, ghost", "Horror, robot"]
    expected = make(min_count=1) if make is GenreMultiLabelEncoder else make(min_df=1)
    reference = as_array(clone(expected).fit_transform(pd.Series(values)))
    for X in (
        pd.DataFrame({"c": values}),
        np.array(values, dtype=object).reshape(-1, 1),
        np.array(values, dtype=object),
        {"c": values},
        values,
    ):
        np.testing.assert_array_equal(as_array(clone(expected).fit_transform(X)), reference)


def test_data_type_fixer_fills_bad_dates_with_training_medians():
    train = pd.DataFrame(
        {
            "release_date": ["2000-03-01", "2010-05-01", "2020-07-01"],
            "title": [" A b ", "C", "D"],
            "overview": ["one two three", None, "x"],
            "genre": ["Drama", "", "Horror"],
            "original_language": ["en", "en", np.nan],
        }
    )
    fixer = DataTypeFixer().fit(train)
    assert (fixer.year_fill_, fixer.month_fill_) == (2010.0, 5.0)
    test = train.assign(release_date=["2021-13-45", "", "not a date"])
    out = fixer.transform(test)
    assert list(out) == list(fixer.get_feature_names_out())
    assert list(out["release_year"]) == [2010.0] * 3
    assert list(out["release_month"]) == [5.0] * 3
    assert out["release_date"].dtype == np.dtype("datetime64[D]")
    assert np.isnat(out["release_date"]).all()  # the parsed date keeps what is missing
    assert list(out["overview_words"]) == [3.0, 0.0, 1.0]
    assert list(out["title_words"]) == [2.0, 1.0, 1.0]
    assert list(out["title"]) == ["A b", "C", "D"]
    assert list(out["overview"]) == ["one two three", "", "x"]
    assert list(out["original_language"]) == ["en", "en", ""]
    for name in ("title", "overview", "genre", "original_language"):
        assert out[name].dtype == object
        assert all(isinstance(value, str) for value in out[name])


def test_data_type_fixer_outputs_the_parsed_date():
    frame = {
        "release_date": np.array(["2024-01-01", "1957-12-23", "2021-02-30"], dtype=object),
        "title": np.array(["a", "b", "c"], dtype=object),
        "overview": np.array(["", "", ""], dtype=object),
        "genre": np.array(["", "", ""], dtype=object),
        "original_language": np.array(["en", "ja", "fr"], dtype=object),
    }
    out = DataTypeFixer().fit(frame).transform(frame)
    np.testing.assert_array_equal(
        out["release_date"], np.array(["2024-01-01", "1957-12-23", "NaT"], dtype="datetime64[D]")
    )
    np.testing.assert_array_equal(out["release_year"], [2024.0, 1957.0, 1990.5])
    np.testing.assert_array_equal(out["release_month"], [1.0, 12.0, 6.5])


def test_data_type_fixer_without_any_date_falls_back():
    frame = {name: np.array(["", ""], dtype=object) for name in INPUT_FEATURES}
    out = DataTypeFixer().fit(frame).transform(frame)
    assert np.isfinite(out["release_year"]).all()
    assert np.isfinite(out["release_month"]).all()


def test_year_binning_edges_start_a_new_period():
    frame = pd.DataFrame({"release_year": [1979.0, 1980.0, 1999.0, 2000.0, 2024.0]})
    out = YearBinning(edges=(1980, 2000)).fit(frame).transform(frame)
    assert list(out["release_period"]) == ["-1979", "1980-1999", "1980-1999", "2000-", "2000-"]
    np.testing.assert_array_equal(out["release_year"], frame["release_year"])


@pytest.mark.parametrize("edges", [(), (2000, 1990), (2000, 2000)])
def test_year_binning_rejects_bad_edges(edges):
    with pytest.raises(ValueError, match="increasing"):
        YearBinning(edges=edges).fit(pd.DataFrame({"release_year": [2000.0]}))


def test_selective_scaler_leaves_other_columns_alone():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 10.0, 10.0], "t": ["x", "y", "z"]})
    out = SelectiveStandardScaler(columns=("a", "b")).fit(frame).transform(frame)
    assert list(out) == ["a", "b", "t"]
    np.testing.assert_allclose(out["a"], [-1.224745, 0.0, 1.224745], atol=1e-6)
    np.testing.assert_array_equal(out["b"], [0.0, 0.0, 0.0])  # zero variance: scale 1, no NaN
    assert list(out["t"]) == ["x", "y", "z"]


def test_selective_scaler_scales_every_numeric_column_by_default():
    columns = {"a": np.array([1.0, 3.0]), "n": np.array([1, 2]), "t": np.array(["x", "y"])}
    scaler = SelectiveStandardScaler().fit(columns)
    assert scaler.scaled_columns_ == ["a", "n"]
    out = scaler.transform(columns)
    np.testing.assert_array_equal(out["a"], [-1.0, 1.0])
    np.testing.assert_array_equal(out["n"], [-1.0, 1.0])
    assert list(out["t"]) == ["x", "y"]


def test_selective_scaler_on_arrays_equals_standard_scaler():
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 3))
    X[:, 2] = 5.0
    ours = SelectiveStandardScaler().fit(X)
    reference = StandardScaler().fit(X)
    np.testing.assert_allclose(ours.transform(X), reference.transform(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.mean_, reference.mean_, rtol=1e-12)


def test_column_selector_reports_missing_columns():
    with pytest.raises(KeyError, match="overview"):
        ColumnSelector(columns=("title", "overview")).fit(pd.DataFrame({"title": ["a"]}))
    selector = ColumnSelector(columns=("title",)).fit({"title": ["a"], "genre": ["b"]})
    with pytest.raises(KeyError, match="title"):
        selector.transform({"genre": ["b"]})


def test_column_selector_keeps_its_columns_in_order_as_text():
    frame = pd.DataFrame({"genre": ["Drama"], "extra": [1], "title": ["A"]})
    out = ColumnSelector(columns=("title", "genre")).fit(frame).transform(frame)
    assert list(out) == ["title", "genre"]
    assert all(values.dtype == object for values in out.values())
