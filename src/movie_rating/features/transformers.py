"""The eight custom transformers of the movie feature pipelines.

All follow scikit-learn's contract: ``__init__`` only stores its arguments, everything learned
from data is set in ``fit`` under a name ending in ``_``, ``transform`` refuses to run unfitted,
and ``get_feature_names_out`` names every output column. The frame-level steps take and return
a batch of named columns (`features.columns`), so later steps select columns by name, never
by position; a DataFrame is accepted where a batch enters (`ColumnSelector`). Each transform
is written for arrays: the same code scores one movie in microseconds and a batch in bulk.
"""

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import validate_data

from movie_rating.features.base import FeatureTransformer
from movie_rating.features.columns import (
    Columns,
    as_columns,
    check_columns,
    n_rows,
    parse_release_dates,
    release_months,
    release_years,
    single_column,
    text_values,
)
from movie_rating.features.text import TextTfidf, word_counts

OTHER_LANGUAGE = "other"


def _set_input_features(estimator: BaseEstimator, columns: Columns) -> None:
    estimator.feature_names_in_ = np.asarray(list(columns), dtype=object)
    estimator.n_features_in_ = len(columns)


def _text_array(texts: list[str]) -> np.ndarray:
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def _named(X: Any) -> bool:
    """Named columns (a DataFrame or a mapping), not an array (a DOK matrix is a dict)."""
    return isinstance(X, pd.DataFrame | Mapping) and not sp.issparse(X)


def ones_at(positions: list[list[int]], width: int) -> np.ndarray:
    """A 0/1 float64 array with a one at each row's positions."""
    lengths = np.fromiter(map(len, positions), dtype=np.int64, count=len(positions))
    rows = np.repeat(np.arange(len(positions)), lengths)
    columns = np.fromiter(itertools.chain.from_iterable(positions), np.int64, len(rows))
    out = np.zeros((len(positions), width), dtype=np.float64)
    out[rows, columns] = 1.0
    return out


class ColumnSelector(FeatureTransformer):
    """Keep only ``columns`` (in that order): the single gate through which inputs reach a model.

    Takes a DataFrame or a mapping of column name to values; returns the columns as 1-D object
    arrays (the inputs are text).

    Parameters
    ----------
    columns : sequence of str
        Column names to keep.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
    n_features_in_ : int
    """

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> Self:
        columns = as_columns(X, type(self).__name__)
        check_columns(columns, self.columns, type(self).__name__)
        _set_input_features(self, columns)
        return self

    def transform(self, X: Any) -> Columns:
        self._check_fitted()
        columns = as_columns(X, type(self).__name__)
        check_columns(columns, self.columns, type(self).__name__)
        return {name: columns[name].astype(object, copy=False).ravel() for name in self.columns}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return np.asarray(self.columns, dtype=object)


class DataTypeFixer(FeatureTransformer):
    """Parse the release date into numbers and give every text column a string value.

    The date column comes out parsed (datetime64[D], NaT where it is not a date: later steps
    read it without parsing it again), with its year and month, where missing or unparseable
    dates get the training median year and month, so serving never sees NaN. Text is stripped
    of surrounding whitespace. Adds the word count (`str.split()`) of each text column in
    ``length_columns``.

    Parameters
    ----------
    date_column : str
    text_columns : sequence of str
        Columns whose missing values become "".
    length_columns : sequence of str
        Text columns whose word count becomes a numeric feature ``<column>_words``.

    Attributes
    ----------
    year_fill_ : float
        Median release year seen in ``fit``.
    month_fill_ : float
        Median release month seen in ``fit``.
    """

    def __init__(
        self,
        date_column: str = "release_date",
        text_columns: Sequence[str] = ("title", "overview", "genre", "original_language"),
        length_columns: Sequence[str] = ("title", "overview"),
    ) -> None:
        self.date_column = date_column
        self.text_columns = text_columns
        self.length_columns = length_columns

    def fit(self, X: Any, y: Any = None) -> Self:
        columns = as_columns(X, type(self).__name__)
        check_columns(columns, [self.date_column, *self.text_columns], type(self).__name__)
        dates = parse_release_dates(columns[self.date_column])
        years, months = release_years(dates), release_months(dates)
        known = ~np.isnan(years)
        self.year_fill_ = float(np.median(years[known])) if known.any() else 2000.0
        self.month_fill_ = float(np.median(months[known])) if known.any() else 6.0
        _set_input_features(self, columns)
        return self

    def transform(self, X: Any) -> Columns:
        self._check_fitted()
        columns = as_columns(X, type(self).__name__)
        dates = parse_release_dates(columns[self.date_column])
        years, months = release_years(dates), release_months(dates)
        out: Columns = {
            "release_year": np.where(np.isnan(years), self.year_fill_, years),
            "release_month": np.where(np.isnan(months), self.month_fill_, months),
            self.date_column: dates,
        }
        for name in self.text_columns:
            out[name] = _text_array([text.strip() for text in text_values(columns[name])])
        for name in self.length_columns:
            out[f"{name}_words"] = word_counts(out[name].tolist())
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        names = ["release_year", "release_month", self.date_column, *self.text_columns]
        names += [f"{column}_words" for column in self.length_columns]
        return np.asarray(names, dtype=object)


class YearBinning(FeatureTransformer):
    """Add a categorical release period (e.g. ``"2010-2014"``) cut at ``edges``.

    Parameters
    ----------
    column : str
        Numeric year column.
    edges : sequence of int
        Increasing cut points; a year equal to an edge starts a new period.
    output_column : str

    Attributes
    ----------
    labels_ : list of str
        One label per period, oldest first.
    """

    def __init__(
        self,
        column: str = "release_year",
        edges: Sequence[int] = (1980, 2000, 2010, 2020),
        output_column: str = "release_period",
    ) -> None:
        self.column = column
        self.edges = edges
        self.output_column = output_column

    def fit(self, X: Any, y: Any = None) -> Self:
        columns = as_columns(X, type(self).__name__)
        check_columns(columns, [self.column], type(self).__name__)
        edges = list(self.edges)
        if not edges or any(low >= high for low, high in itertools.pairwise(edges)):
            raise ValueError(f"YearBinning.edges must be non-empty and increasing, got {edges}")
        bounds = [None, *edges, None]
        self.labels_ = [
            f"{'' if low is None else low}-{'' if high is None else high - 1}"
            for low, high in itertools.pairwise(bounds)
        ]
        _set_input_features(self, columns)
        return self

    def transform(self, X: Any) -> Columns:
        self._check_fitted()
        columns = as_columns(X, type(self).__name__)
        # (`np.digitize` of increasing edges, without its per-call checks)
        edges = np.asarray(self.edges, dtype=np.float64)
        positions = edges.searchsorted(columns[self.column].astype(np.float64), side="right")
        labels = np.asarray(self.labels_, dtype=object)
        return {**columns, self.output_column: labels[positions]}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return np.asarray([*self.feature_names_in_, self.output_column], dtype=object)


class LanguageGrouper(OneToOneFeatureMixin, FeatureTransformer):
    """Replace languages seen fewer than ``min_count`` times in training by ``"other"``.

    Unseen languages at predict time also become ``"other"``.

    Attributes
    ----------
    languages_ : list of str
        Languages kept as themselves, sorted.
    """

    def __init__(self, column: str = "original_language", min_count: int = 10) -> None:
        self.column = column
        self.min_count = min_count

    def fit(self, X: Any, y: Any = None) -> Self:
        columns = as_columns(X, type(self).__name__)
        check_columns(columns, [self.column], type(self).__name__)
        counts = Counter(text_values(columns[self.column]))
        self.languages_ = sorted(code for code, n in counts.items() if n >= self.min_count)
        _set_input_features(self, columns)
        return self

    def transform(self, X: Any) -> Columns:
        self._check_fitted()
        columns = as_columns(X, type(self).__name__)
        known = frozenset(self.languages_)
        grouped = [v if v in known else OTHER_LANGUAGE for v in columns[self.column].tolist()]
        return {**columns, self.column: _text_array(grouped)}


class SelectiveStandardScaler(OneToOneFeatureMixin, FeatureTransformer):
    """Standardise numeric columns and pass every other column through untouched.

    Parameters
    ----------
    columns : sequence of str or None
        Columns to scale; None scales every numeric column. A 2-D numpy array is all-numeric.

    Attributes
    ----------
    scaled_columns_ : list
        Names (column input) or positions (array input) of the scaled columns.
    mean_ : ndarray
    scale_ : ndarray
        Standard deviation per scaled column; 1.0 where it is zero.
    """

    _fitted_attribute = "scale_"

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> Self:
        if not _named(X):
            values = validate_data(self, X, dtype=np.float64)
            chosen: list[Any] = list(range(values.shape[1]))
        else:
            columns = as_columns(X, type(self).__name__)
            if self.columns is None:
                chosen = [name for name, v in columns.items() if v.dtype.kind in "biuf"]
            else:
                chosen = list(self.columns)
            check_columns(columns, chosen, type(self).__name__)
            # column by column, each contiguous: a column's mean does not depend on the others
            values = np.asfortranarray(
                np.column_stack([columns[name].astype(np.float64) for name in chosen])
            )
            _set_input_features(self, columns)
        self.scaled_columns_ = chosen
        self.mean_ = np.nanmean(values, axis=0) if len(values) else np.zeros(len(chosen))
        scale = np.nanstd(values, axis=0) if len(values) else np.ones(len(chosen))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, X: Any) -> Any:
        self._check_fitted()
        if not _named(X):
            values = validate_data(self, X, dtype=np.float64, reset=False)
            return (values - self.mean_) / self.scale_
        columns = as_columns(X, type(self).__name__)
        scaled = {
            name: (columns[name].astype(np.float64) - mean) / scale
            for name, mean, scale in zip(self.scaled_columns_, self.mean_, self.scale_, strict=True)
        }
        return {**columns, **scaled}


class GenreMultiLabelEncoder(FeatureTransformer):
    """One 0/1 column per genre from a comma-separated genre string.

    Genres seen fewer than ``min_count`` times in training, and genres never seen, are ignored.

    Attributes
    ----------
    genres_ : list of str
        Known genres, sorted; the order of the output columns.
    """

    def __init__(self, separator: str = ",", min_count: int = 1) -> None:
        self.separator = separator
        self.min_count = min_count

    def split_genres(self, text: str) -> list[str]:
        """A genre string's genres, as `fit` and `transform` read them (stripped, no blanks)."""
        return [genre.strip() for genre in text.split(self.separator) if genre.strip()]

    def fit(self, X: Any, y: Any = None) -> Self:
        texts = single_column(X, type(self).__name__)
        counts = Counter(genre for text in texts for genre in self.split_genres(text))
        self.genres_ = sorted(genre for genre, n in counts.items() if n >= self.min_count)
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        self._check_fitted()
        index = {genre: position for position, genre in enumerate(self.genres_)}
        texts = single_column(X, type(self).__name__)
        # Genre strings repeat ("Drama", "Comedy, Drama"): each distinct one is read once.
        positions = {
            text: [index[g] for g in self.split_genres(text) if g in index] for text in set(texts)
        }
        return ones_at([positions[text] for text in texts], len(self.genres_))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return np.asarray([f"genre_{genre}" for genre in self.genres_], dtype=object)


class LightweightTextEmbedder(FeatureTransformer):
    """TF-IDF of one text column, capped at ``max_features`` terms.

    Attributes
    ----------
    vectorizer_ : TextTfidf
        The fitted vectorizer; its vocabulary names the output columns.
    """

    def __init__(
        self,
        max_features: int = 50,
        ngram_range: tuple[int, int] = (1, 1),
        stop_words: str | None = "english",
        min_df: int = 2,
        sublinear_tf: bool = True,
    ) -> None:
        self.max_features = max_features
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf

    def fit(self, X: Any, y: Any = None) -> Self:
        documents = single_column(X, type(self).__name__)
        self.vectorizer_ = TextTfidf(
            max_features=self.max_features,
            ngram_range=tuple(self.ngram_range),
            stop_words=self.stop_words,
            min_df=min(self.min_df, max(len(documents), 1)),
            sublinear_tf=self.sublinear_tf,
            dtype=np.float64,
        ).fit(documents)
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        self._check_fitted()
        return self.vectorizer_.transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return self.vectorizer_.get_feature_names_out().astype(object)


class CategoricalOneHotEncoder(FeatureTransformer):
    """One-hot encode categorical columns; categories unseen in training encode as all zeros.

    scikit-learn's `OneHotEncoder` (``handle_unknown="ignore"``) learns the categories; the
    transform is a lookup of each value's column, which `OneHotEncoder.transform` computes
    with ~0.1 ms of input checks per call (a unit test compares the two).

    Attributes
    ----------
    encoder_ : OneHotEncoder
    """

    def fit(self, X: Any, y: Any = None) -> Self:
        table: Any = self._table(X)
        if _named(X):  # named columns name the output columns
            table = pd.DataFrame(table, columns=list(as_columns(X, "")), dtype=object)
        self.encoder_ = OneHotEncoder(
            handle_unknown="ignore", sparse_output=True, dtype=np.float64
        ).fit(table)
        self.n_features_in_ = self.encoder_.n_features_in_
        if hasattr(self.encoder_, "feature_names_in_"):
            self.feature_names_in_ = self.encoder_.feature_names_in_
        return self

    def transform(self, X: Any) -> np.ndarray:
        self._check_fitted()
        names = getattr(self, "feature_names_in_", None)
        values = self._table(X, None if names is None else list(names))
        if values.shape[1] != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} columns, got {values.shape[1]}")
        positions: list[list[int]] = [[] for _ in range(len(values))]
        offset = 0
        for column, categories in zip(values.T, self.encoder_.categories_, strict=True):
            lookup = {category: offset + i for i, category in enumerate(categories.tolist())}
            # NaN is never equal to itself: a NaN category (scikit-learn sorts it last) is
            # found by `pd.isna`
            missing = offset + len(categories) - 1 if pd.isna(categories[-1]) else None
            for row, value in enumerate(column.tolist()):
                found = lookup.get(value)
                if found is None and missing is not None and pd.isna(value):
                    found = missing
                if found is not None:
                    positions[row].append(found)
            offset += len(categories)
        return ones_at(positions, offset)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return self.encoder_.get_feature_names_out(input_features)

    @staticmethod
    def _table(X: Any, names: list[str] | None = None) -> np.ndarray:
        """The categorical columns side by side (those named `names`, in that order, when
        given and the input has named columns), as an object array."""
        if not _named(X):
            if sp.issparse(X):
                raise TypeError("a sparse matrix is not accepted: pass dense categories")
            array = np.asarray(X, dtype=object)
            if array.ndim != 2:
                raise ValueError(f"expected a 2-D array, got shape {array.shape}")
            return array
        columns = as_columns(X, "CategoricalOneHotEncoder")
        if names is not None:
            check_columns(columns, names, "CategoricalOneHotEncoder")
            columns = {name: columns[name] for name in names}
        table = np.empty((n_rows(columns), len(columns)), dtype=object)
        for i, values in enumerate(columns.values()):
            table[:, i] = values
        return table
