"""What flows between the feature steps: a batch of movies as named columns.

A batch is a dict from column name to a 1-D numpy array, one entry per movie: text as an
object array of Python strings, numbers as float64. The steps read and write these arrays
directly; a pandas DataFrame is accepted at the gate (`ColumnSelector`) and never built again,
so one movie costs microseconds per step, not the ~50-200 us a DataFrame operation costs, and
a batch of one runs the same code as a batch of ten thousand.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

Columns = dict[str, np.ndarray]

# What cleaning writes and the API accepts; any other text is a missing date.
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday; Monday is 0


def as_columns(X: Any, who: str) -> Columns:
    """The columns of a batch (a DataFrame or a mapping of name to 1-D array-like)."""
    if type(X) is dict and set(map(type, X.values())) <= {np.ndarray}:
        return X  # what the steps pass each other
    if isinstance(X, pd.DataFrame):
        return {str(name): X[name].to_numpy() for name in X.columns}
    if isinstance(X, Mapping):  # (a list as objects: ["a", nan] as text would hold "nan")
        return {
            str(name): values if isinstance(values, np.ndarray) else np.array(values, dtype=object)
            for name, values in X.items()
        }
    raise TypeError(f"{who} expects a DataFrame or a mapping of columns, got {type(X).__name__}")


def check_columns(columns: Mapping[str, Any], required: Sequence[str], who: str) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise KeyError(f"{who}: input lacks column(s) {missing}")


def n_rows(columns: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def text_values(values: Any) -> list[str]:
    """A text column as Python strings: missing values (None, NaN, pandas' NA) become ""."""
    return [
        value if isinstance(value, str) else ("" if pd.isna(value) else str(value))
        for value in np.asarray(values, dtype=object).ravel().tolist()
    ]


def single_column(X: Any, who: str) -> list[str]:
    """The one text column of X (a 1-D array, a list, a Series or a one-column frame or array)
    as Python strings; more columns is an error (flattening them would give a row per cell)."""
    if isinstance(X, pd.DataFrame | Mapping):
        columns = as_columns(X, who)
        if len(columns) != 1:
            raise ValueError(f"{who} expects one column, got {len(columns)}")
        X = next(iter(columns.values()))
    values = np.asarray(X, dtype=object)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{who} expects one column, got an array of shape {values.shape}")
    return text_values(values)


def parse_release_dates(values: Any) -> np.ndarray:
    """Release dates as datetime64[D]; NaT where a value is not an ISO YYYY-MM-DD date (as
    cleaning writes them and the API accepts them), which every feature treats as missing.
    The one date parse every feature shares; parsed dates pass through."""
    values = np.asarray(values)
    if values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    # (numpy reads the text "NaT" as NaT)
    texts = [text if _ISO_DATE.fullmatch(text) else "NaT" for text in text_values(values)]
    try:
        return np.array(texts, dtype="datetime64[D]")
    except ValueError:  # a day that does not exist (2021-02-30): parse one by one
        return np.array([_one_date(text) for text in texts], dtype="datetime64[D]")


def _one_date(text: str) -> np.datetime64:
    try:
        return np.datetime64(text, "D")
    except ValueError:
        return np.datetime64("NaT")


def release_years(dates: np.ndarray) -> np.ndarray:
    """The year of each date (datetime64[D]) as float64; NaN where NaT."""
    years = (dates.astype("datetime64[Y]").astype(np.int64) + 1970).astype(np.float64)
    years[np.isnat(dates)] = np.nan
    return years


def release_months(dates: np.ndarray) -> np.ndarray:
    """The month (1-12) of each date as float64; NaN where NaT."""
    months = (dates.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.float64)
    months[np.isnat(dates)] = np.nan
    return months


def release_weekdays(dates: np.ndarray) -> np.ndarray:
    """The weekday (Monday 0) of each date as float64; NaN where NaT."""
    weekdays = ((dates.astype(np.int64) + _EPOCH_WEEKDAY) % 7).astype(np.float64)
    weekdays[np.isnat(dates)] = np.nan
    return weekdays
