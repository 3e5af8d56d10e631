"""scikit-learn contract of the eight custom transformers.

SelectiveStandardScaler and CategoricalOneHotEncoder accept numpy input and go through
`parametrize_with_checks`. The other six are DataFrame- or text-column-only by design (they
select columns by name, or read strings), which sklearn's generic checks cannot feed: they get
the same guarantees checked explicitly below (clone, params, unfitted errors, feature names,
pickling, unseen categories).
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
from sklearn.utils.estimator_checks import parametrize_with_checks

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.features.transformers import (
    OTHER_LANGUAGE,
    CategoricalOneHotEncoder,
    ColumnSelector,
    DataTypeFixer,
    GenreMultiLabelEncoder,
    LanguageGrouper,
    LightweightTextEmbedder,
    SelectiveStandardScaler,
    StableTfidfVectorizer,
    YearBinning,
)

# --- sklearn's generic estimator checks, where they apply -----------------------------------------


def _expected_failed_checks(estimator: Any) -> dict[str, str]:
    if isinstance(estimator, CategoricalOneHotEncoder):
        return {
            # A categorical encoder treats NaN as one more category (as OneHotEncoder does);
            # rejecting it in fit would be wrong for this transformer.
            "check_estimators_nan_inf": "NaN is a valid category for a one-hot encoder",
        }
    return {}


@parametrize_with_checks(
    [SelectiveStandardScaler(), CategoricalOneHotEncoder()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --- the same guarantees, checked explicitly for every transformer ------------------------------


def _as_output_array(output: Any) -> np.ndarray:
    if sp.issparse(output):
        return output.toarray()
    if isinstance(output, pd.DataFrame):
        return output.to_numpy()
    return np.asarray(output)


def _width(output: Any) -> int:
    return output.shape[1]


def _fixed(frame: pd.DataFrame) -> pd.DataFrame:
    return DataTypeFixer().fit_transform(
        ColumnSelector(columns=INPUT_FEATURES).fit_transform(frame)
    )


def _binned(frame: pd.DataFrame) -> pd.DataFrame:
    return YearBinning(edges=(1980, 2000)).fit_transform(_fixed(frame))


@dataclass(frozen=True)
class Case:
    """A transformer, the input it sees inside the feature pipeline, and a params change."""

    make: Callable[[], Any]
    input_of: Callable[[pd.DataFrame], Any]
    new_params: dict[str, Any]
    # (output before the change, output after) -> did the params change change behaviour
    changed: Callable[[Any, Any], bool]


CASES: dict[str, Case] = {
    "ColumnSelector": Case(
        lambda: ColumnSelector(columns=("title", "genre")),
        lambda f: f,
        {"columns": ("title",)},
        lambda a, b: list(a.columns) == ["title", "genre"] and list(b.columns) == ["title"],
    ),
    "DataTypeFixer": Case(
        DataTypeFixer,
        lambda f: f.loc[:, list(INPUT_FEATURES)],
        {"length_columns": ("title",)},
        lambda a, b: "overview_words" in a.columns and "overview_words" not in b.columns,
    ),
    "YearBinning": Case(
        lambda: YearBinning(edges=(1980, 2000)),
        _fixed,
        {"edges": (2000,)},
        lambda a, b: a["release_period"].nunique() == 3 and b["release_period"].nunique() == 2,
    ),
    "LanguageGrouper": Case(
        lambda: LanguageGrouper(min_count=10),
        _binned,
        {"min_count": 1},
        lambda a, b: (
            (a["original_language"] == OTHER_LANGUAGE).any()
            and not (b["original_language"] == OTHER_LANGUAGE).any()
        ),
    ),
    "SelectiveStandardScaler": Case(
        lambda: SelectiveStandardScaler(columns=("release_year", "title_words")),
        _binned,
        {"columns": ("release_year",)},
        lambda a, b: abs(a["title_words"].mean()) < 1e-9 and abs(b["title_words"].mean()) > 0.5,
    ),
    "GenreMultiLabelEncoder": Case(
        GenreMultiLabelEncoder,
        lambda f: f["genre"],
        {"min_count": 20},
        lambda a, b: _width(b) < _width(a),
    ),
    "LightweightTextEmbedder": Case(
        LightweightTextEmbedder,
        lambda f: f["overview"],
        {"max_features": 5},
        lambda a, b: _width(a) > 5 and _width(b) == 5,
    ),
    "CategoricalOneHotEncoder": Case(
        CategoricalOneHotEncoder,
        lambda f: _binned(f).loc[:, ["original_language", "release_period"]],
        {"min_frequency": 10},
        lambda a, b: _width(b) < _width(a),
    ),
}

case_names = pytest.mark.parametrize("name", sorted(CASES))


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
def test_unfitted_transform_raises(name, case_input):
    with pytest.raises(NotFittedError):
        CASES[name].make().transform(case_input(name))


@case_names
def test_fit_returns_self_and_keeps_rows(name, case_input):
    estimator = CASES[name].make()
    X = case_input(name)
    assert estimator.fit(X) is estimator
    assert estimator.transform(X).shape[0] == len(X)


@case_names
def test_clone_round_trip(name, case_input):
    X = case_input(name)
    fitted = CASES[name].make().fit(X)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        copy.transform(X)  # clone copies params, never learned state
    np.testing.assert_array_equal(
        _as_output_array(copy.fit(X).transform(X)), _as_output_array(fitted.transform(X))
    )


@case_names
def test_set_params_changes_behaviour(name, case_input):
    case = CASES[name]
    X = case_input(name)
    before = case.make().fit(X).transform(X)
    changed = case.make().set_params(**case.new_params)
    assert changed.get_params() | case.new_params == changed.get_params()
    after = changed.fit(X).transform(X)
    assert case.changed(before, after)


@case_names
def test_feature_names_match_output(name, case_input):
    X = case_input(name)
    estimator = CASES[name].make().fit(X)
    output = estimator.transform(X)
    names = list(estimator.get_feature_names_out())
    assert len(names) == _width(output)
    assert len(set(names)) == len(names)
    if isinstance(output, pd.DataFrame):
        assert names == list(output.columns)


@case_names
def test_pickle_round_trip_gives_identical_output(name, case_input):
    X = case_input(name)
    fitted = CASES[name].make().fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        _as_output_array(restored.transform(X)), _as_output_array(fitted.transform(X))
    )


@pytest.mark.parametrize(
    "name",
    ["ColumnSelector", "DataTypeFixer", "YearBinning", "LanguageGrouper"],
)
def test_frame_transformers_reject_arrays(name, case_input):
    X = case_input(name)
    estimator = CASES[name].make()
    with pytest.raises(TypeError, match="DataFrame"):
        estimator.fit(X.to_numpy())


# --- behaviour on data the training set never showed ---------------------------------------------


def test_unseen_genres_are_ignored():
    encoder = GenreMultiLabelEncoder().fit(pd.Series(["Drama, Comedy", "Drama", "Horror"]))
    out = encoder.transform(pd.Series(["Western, Drama", "Western", "", None])).toarray()
    names = list(encoder.get_feature_names_out())
    assert names == ["genre_Comedy", "genre_Drama", "genre_Horror"]
    np.testing.assert_array_equal(out, [[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_genre_min_count_drops_rare_genres():
    encoder = GenreMultiLabelEncoder(min_count=2).fit(pd.Series(["Drama, Comedy", "Drama"]))
    assert list(encoder.get_feature_names_out()) == ["genre_Drama"]


def test_unseen_and_rare_languages_become_other():
    train = pd.DataFrame({"original_language": ["en"] * 3 + ["fr"]})
    grouper = LanguageGrouper(min_count=2).fit(train)
    out = grouper.transform(pd.DataFrame({"original_language": ["en", "fr", "xx"]}))
    assert list(out["original_language"]) == ["en", OTHER_LANGUAGE, OTHER_LANGUAGE]


def test_unseen_category_encodes_as_all_zeros():
    train = pd.DataFrame({"original_language": ["en", "fr"], "release_period": ["a", "b"]})
    encoder = CategoricalOneHotEncoder().fit(train)
    unseen = pd.DataFrame({"original_language": ["zz"], "release_period": ["a"]})
    row = encoder.transform(unseen).toarray()[0]
    names = list(encoder.get_feature_names_out())
    assert row.sum() == 1.0
    assert names[int(np.argmax(row))] == "release_period_a"


def test_text_embedder_ignores_unseen_words():
    embedder = LightweightTextEmbedder(min_df=1).fit(pd.Series(["robot planet", "robot ghost"]))
    out = embedder.transform(pd.Series(["zebra xylophone", "", None]))
    assert out.shape == (3, 3)
    assert out.nnz == 0


@pytest.mark.parametrize("make", [GenreMultiLabelEncoder, LightweightTextEmbedder])
def test_single_column_transformers_reject_several_columns(make):
    # Regression: a 2-column array used to be flattened into twice as many output rows.
    two_columns = np.array([["robot planet", "ghost"], ["robot ghost", "planet"]], dtype=object)
    with pytest.raises(ValueError, match="one column"):
        make().fit(two_columns)
    with pytest.raises(ValueError, match="one column"):
        make().fit(pd.DataFrame(two_columns, columns=["a", "b"]))


@pytest.mark.parametrize("make", [GenreMultiLabelEncoder, LightweightTextEmbedder])
def test_single_column_transformers_accept_one_column_shapes(make):
    values = ["Drama, robot", "Drama, ghost", "Horror, robot"]
    expected = make(min_count=1) if make is GenreMultiLabelEncoder else make(min_df=1)
    reference = _as_output_array(clone(expected).fit_transform(pd.Series(values)))
    for X in (pd.DataFrame({"c": values}), np.array(values, dtype=object).reshape(-1, 1)):
        np.testing.assert_array_equal(_as_output_array(clone(expected).fit_transform(X)), reference)


def test_data_type_fixer_fills_bad_dates_with_training_medians():
    train = pd.DataFrame(
        {
            "release_date": ["2000-03-01", "2010-05-01", "2020-07-01"],
            "title": ["A b", "C", "D"],
            "overview": ["one two three", None, "x"],
            "genre": ["Drama", "", "Horror"],
            "original_language": ["en", "en", "fr"],
        }
    )
    fixer = DataTypeFixer().fit(train)
    test = train.assign(release_date=["2021-13-45", "", "not a date"])
    out = fixer.transform(test)
    assert list(out["release_year"]) == [2010.0] * 3
    assert list(out["release_month"]) == [5.0] * 3
    assert list(out["overview_words"]) == [3.0, 0.0, 1.0]
    assert out.notna().all().all()


def test_year_binning_edges_start_a_new_period():
    frame = pd.DataFrame({"release_year": [1979.0, 1980.0, 1999.0, 2000.0, 2024.0]})
    out = YearBinning(edges=(1980, 2000)).fit(frame).transform(frame)
    assert list(out["release_period"]) == ["-1979", "1980-1999", "1980-1999", "2000-", "2000-"]


@pytest.mark.parametrize("edges", [(), (2000, 1990), (2000, 2000)])
def test_year_binning_rejects_bad_edges(edges):
    with pytest.raises(ValueError, match="increasing"):
        YearBinning(edges=edges).fit(pd.DataFrame({"release_year": [2000.0]}))


def test_selective_scaler_leaves_other_columns_alone():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [10.0, 10.0, 10.0], "t": ["x", "y", "z"]})
    out = SelectiveStandardScaler(columns=("a", "b")).fit(frame).transform(frame)
    np.testing.assert_allclose(out["a"], [-1.224745, 0.0, 1.224745], atol=1e-6)
    np.testing.assert_array_equal(out["b"], [0.0, 0.0, 0.0])  # zero variance: scale 1, no NaN
    assert list(out["t"]) == ["x", "y", "z"]


def test_column_selector_reports_missing_columns():
    with pytest.raises(KeyError, match="overview"):
        ColumnSelector(columns=("title", "overview")).fit(pd.DataFrame({"title": ["a"]}))


def test_max_features_ties_go_to_the_alphabetically_first_terms():
    """scikit-learn breaks these ties with an unstable, CPU-dependent sort."""
    docs = [" ".join(f"w{i:03d}" for i in range(j, j + 5)) for j in range(0, 300, 5)]
    docs += ["zeta common", "alpha common"]  # "common" is the one term seen twice
    kept = StableTfidfVectorizer(max_features=4).fit(docs).vocabulary_
    assert sorted(kept) == ["alpha", "common", "w000", "w001"]
    unlimited = StableTfidfVectorizer().fit(docs)
    top = StableTfidfVectorizer(max_features=len(unlimited.vocabulary_)).fit(docs)
    assert top.vocabulary_ == unlimited.vocabulary_
