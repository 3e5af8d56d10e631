"""The eight custom transformers of the movie feature pipelines.

All follow scikit-learn's contract: ``__init__`` only stores its arguments, everything learned
from data is set in ``fit`` under a name ending in ``_``, ``transform`` refuses to run unfitted,
and ``get_feature_names_out`` names every output column. Frame-level transformers take and
return pandas DataFrames so later steps can select columns by name, never by position.
"""

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import check_is_fitted, validate_data

OTHER_LANGUAGE = "other"


def _as_frame(X: Any) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(X).__name__}")
    return X


def _set_input_features(estimator: BaseEstimator, frame: pd.DataFrame) -> None:
    estimator.feature_names_in_ = np.asarray(frame.columns, dtype=object)
    estimator.n_features_in_ = frame.shape[1]


def parse_release_dates(values: Any) -> pd.Series:
    """Release dates (YYYY-MM-DD, as cleaning writes them) as timestamps; NaT where a value is
    not such a date, which every feature then treats as missing. The one parse all date
    features share (and the serving paths reproduce), so none reads a date its own way."""
    return pd.to_datetime(values, errors="coerce", format="%Y-%m-%d")


def single_column(X: Any, who: str) -> pd.Series:
    """The one text column of X (a Series, a 1-column frame or array); more columns is an error.

    Flattening a many-column array would silently return one output row per cell.
    """
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"{who} expects one column, got {X.shape[1]}")
        return X.iloc[:, 0]
    if isinstance(X, pd.Series):
        return X
    values = np.asarray(X, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{who} expects one column, got an array of shape {values.shape}")
    return pd.Series(values)


def _check_columns(frame: pd.DataFrame, required: Sequence[str], who: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise KeyError(f"{who}: input lacks column(s) {missing}")


class StableTfidfVectorizer(TfidfVectorizer):
    """A TfidfVectorizer whose fit is the same on every machine and pickles to the same bytes.

    TfidfVectorizer caches ``id(stop_words)`` (a memory address) after fitting, so two
    identical fits would pickle differently and the pipeline could not reproduce dvc.lock.
    The cache is left out of the pickle and rebuilt on the first transform after loading.

    With ``max_features``, scikit-learn keeps the most frequent terms with numpy's default
    (unstable) argsort, whose order among equally frequent terms depends on the CPU's SIMD
    sort: two machines kept different title words. Here ties go to the alphabetically first.
    """

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_stop_words_id", None)
        return state

    def _limit_features(
        self,
        X: sp.csr_matrix,
        vocabulary: dict[str, int],
        high: float | None = None,
        low: float | None = None,
        limit: int | None = None,
    ) -> Any:
        pruned = super()._limit_features(X, vocabulary, high, low, None)
        if limit is None:
            return pruned
        counts = pruned[0] if isinstance(pruned, tuple) else pruned
        if counts.shape[1] <= limit:
            return pruned
        # Columns are in alphabetical order here, so a stable sort breaks ties alphabetically.
        frequencies = np.asarray(counts.sum(axis=0)).ravel()
        kept = np.sort(np.argsort(-frequencies, kind="stable")[:limit])
        new_index = {int(old): new for new, old in enumerate(kept)}
        for term, old in list(vocabulary.items()):
            if int(old) in new_index:
                vocabulary[term] = new_index[int(old)]
            else:
                del vocabulary[term]
        limited = counts[:, kept]
        return (limited, set()) if isinstance(pruned, tuple) else limited


class ColumnSelector(TransformerMixin, BaseEstimator):
    """Keep only ``columns`` (in that order): the single gate through which inputs reach a model.

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

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        frame = _as_frame(X)
        _check_columns(frame, self.columns, type(self).__name__)
        _set_input_features(self, frame)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        frame = _as_frame(X)
        _check_columns(frame, self.columns, type(self).__name__)
        return frame.loc[:, list(self.columns)]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.columns, dtype=object)


class DataTypeFixer(TransformerMixin, BaseEstimator):
    """Parse the release date into numbers and give every text column a string value.

    Missing or unparseable dates get the training median year and month, so serving never
    sees NaN. Adds word counts of each text column in ``length_columns``.

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

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        frame = _as_frame(X)
        _check_columns(frame, [self.date_column, *self.text_columns], type(self).__name__)
        dates = parse_release_dates(frame[self.date_column])
        self.year_fill_ = float(np.nanmedian(dates.dt.year)) if dates.notna().any() else 2000.0
        self.month_fill_ = float(np.nanmedian(dates.dt.month)) if dates.notna().any() else 6.0
        _set_input_features(self, frame)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        frame = _as_frame(X)
        dates = parse_release_dates(frame[self.date_column])
        out = pd.DataFrame(index=frame.index)
        out["release_year"] = dates.dt.year.astype("float64").fillna(self.year_fill_)
        out["release_month"] = dates.dt.month.astype("float64").fillna(self.month_fill_)
        for column in self.text_columns:
            out[column] = frame[column].fillna("").astype(str).str.strip()
        for column in self.length_columns:
            out[f"{column}_words"] = out[column].str.split().str.len().astype("float64")
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        names = ["release_year", "release_month", *self.text_columns]
        names += [f"{column}_words" for column in self.length_columns]
        return np.asarray(names, dtype=object)


class YearBinning(TransformerMixin, BaseEstimator):
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

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        frame = _as_frame(X)
        _check_columns(frame, [self.column], type(self).__name__)
        edges = list(self.edges)
        if not edges or any(low >= high for low, high in itertools.pairwise(edges)):
            raise ValueError(f"YearBinning.edges must be non-empty and increasing, got {edges}")
        bounds = [None, *edges, None]
        self.labels_ = [
            f"{'' if low is None else low}-{'' if high is None else high - 1}"
            for low, high in itertools.pairwise(bounds)
        ]
        _set_input_features(self, frame)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        frame = _as_frame(X)
        positions = np.digitize(frame[self.column].to_numpy(dtype=float), list(self.edges))
        out = frame.copy()
        out[self.output_column] = np.asarray(self.labels_, dtype=object)[positions]
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray([*self.feature_names_in_, self.output_column], dtype=object)


class LanguageGrouper(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
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

    def fit(self, X: pd.DataFrame, y: Any = None) -> Self:
        frame = _as_frame(X)
        _check_columns(frame, [self.column], type(self).__name__)
        counts = Counter(frame[self.column].astype(str))
        self.languages_ = sorted(code for code, n in counts.items() if n >= self.min_count)
        _set_input_features(self, frame)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self)
        frame = _as_frame(X)
        out = frame.copy()
        known = out[self.column].isin(self.languages_)
        out[self.column] = out[self.column].where(known, OTHER_LANGUAGE)
        return out


class SelectiveStandardScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise numeric columns and pass every other column through untouched.

    Parameters
    ----------
    columns : sequence of str or None
        Columns to scale; None scales every numeric column. Numpy input is all-numeric.

    Attributes
    ----------
    scaled_columns_ : list
        Names (DataFrame input) or positions (array input) of the scaled columns.
    mean_ : ndarray
    scale_ : ndarray
        Standard deviation per scaled column; 1.0 where it is zero.
    """

    def __init__(self, columns: Sequence[str] | None = None) -> None:
        self.columns = columns

    def fit(self, X: Any, y: Any = None) -> Self:
        if isinstance(X, pd.DataFrame):
            if self.columns is None:
                chosen = list(X.select_dtypes(include="number").columns)
            else:
                chosen = list(self.columns)
            _check_columns(X, chosen, type(self).__name__)
            values = X[chosen].to_numpy(dtype=float)
            _set_input_features(self, X)
        else:
            values = validate_data(self, X, dtype=np.float64)
            chosen = list(range(values.shape[1]))
        self.scaled_columns_ = chosen
        self.mean_ = np.nanmean(values, axis=0) if len(values) else np.zeros(len(chosen))
        scale = np.nanstd(values, axis=0) if len(values) else np.ones(len(chosen))
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self)
        if isinstance(X, pd.DataFrame):
            out = X.copy()
            scaled = (out[self.scaled_columns_].to_numpy(dtype=float) - self.mean_) / self.scale_
            out[self.scaled_columns_] = scaled
            return out
        values = validate_data(self, X, dtype=np.float64, reset=False)
        return (values - self.mean_) / self.scale_


class GenreMultiLabelEncoder(TransformerMixin, BaseEstimator):
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

    def split_genres(self, X: Any) -> list[list[str]]:
        """Each row's genres, as `fit` and `transform` read them (stripped, blanks dropped)."""
        values = single_column(X, type(self).__name__)
        return [
            [g.strip() for g in str(text).split(self.separator) if g.strip()]
            for text in values.fillna("")
        ]

    def fit(self, X: Any, y: Any = None) -> Self:
        counts = Counter(genre for genres in self.split_genres(X) for genre in genres)
        self.genres_ = sorted(genre for genre, n in counts.items() if n >= self.min_count)
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        check_is_fitted(self)
        index = {genre: position for position, genre in enumerate(self.genres_)}
        rows, cols = [], []
        for row, genres in enumerate(self.split_genres(X)):
            for column in sorted({index[g] for g in genres if g in index}):
                rows.append(row)
                cols.append(column)
        data = np.ones(len(rows), dtype=np.float64)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(X), len(self.genres_)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray([f"genre_{genre}" for genre in self.genres_], dtype=object)


class LightweightTextEmbedder(TransformerMixin, BaseEstimator):
    """TF-IDF of one text column, capped at ``max_features`` terms.

    Attributes
    ----------
    vectorizer_ : TfidfVectorizer
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

    def _documents(self, X: Any) -> list[str]:
        values = single_column(X, type(self).__name__)
        return values.fillna("").astype(str).tolist()

    def fit(self, X: Any, y: Any = None) -> Self:
        documents = self._documents(X)
        self.vectorizer_ = StableTfidfVectorizer(
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
        check_is_fitted(self)
        return self.vectorizer_.transform(self._documents(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return self.vectorizer_.get_feature_names_out().astype(object)


class CategoricalOneHotEncoder(TransformerMixin, BaseEstimator):
    """One-hot encode categorical columns; categories unseen in training encode as all zeros.

    Attributes
    ----------
    encoder_ : OneHotEncoder
    """

    def __init__(self, min_frequency: int | None = None) -> None:
        self.min_frequency = min_frequency

    def fit(self, X: Any, y: Any = None) -> Self:
        handle_unknown = "ignore" if self.min_frequency is None else "infrequent_if_exist"
        self.encoder_ = OneHotEncoder(
            handle_unknown=handle_unknown,
            min_frequency=self.min_frequency,
            sparse_output=True,
            dtype=np.float64,
        ).fit(X)
        self.n_features_in_ = self.encoder_.n_features_in_
        if hasattr(self.encoder_, "feature_names_in_"):
            self.feature_names_in_ = self.encoder_.feature_names_in_
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        check_is_fitted(self)
        return self.encoder_.transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return self.encoder_.get_feature_names_out(input_features)
