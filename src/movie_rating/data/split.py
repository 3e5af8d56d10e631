"""One random train/test split, written to files so every later stage uses the same rows."""

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from movie_rating.data.schema import PROCESSED_COLUMNS, TARGET, VOTE_COUNT
from movie_rating.outputs import replacing
from movie_rating.params import SplitParams

_TEXT_DTYPES = {column: "str" for column in PROCESSED_COLUMNS}
_TEXT_DTYPES.update({"record_id": "int64", VOTE_COUNT: "int64", TARGET: "float64"})


def split_train_test(clean: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = train_test_split(clean, test_size=params.test_size, random_state=params.seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def write_movies(frame: pd.DataFrame, path: Path) -> None:
    """A frame as CSV without its index, lines ending in "\\n" on every OS (a rebuild elsewhere
    writes the same bytes), written whole or not at all: the clean splits, predictions and
    every table a stage writes."""
    with replacing(path) as scratch:
        frame.to_csv(scratch, index=False, lineterminator="\n")


def read_movies(path: Path) -> pd.DataFrame:
    """Read a clean train/test file; empty text stays "" instead of becoming NaN."""
    return pd.read_csv(path, dtype=_TEXT_DTYPES, keep_default_na=False, na_values={})


def release_year(movies: pd.DataFrame) -> pd.Series:
    """Each clean film's release year (the clean stage keeps only valid dates)."""
    return pd.to_datetime(movies["release_date"], format="%Y-%m-%d").dt.year
