"""The train/test split is reproducible and the written files read back unchanged."""

import pandas as pd

from movie_rating.data.schema import PROCESSED_COLUMNS, RECORD_ID
from movie_rating.data.split import read_movies, split_train_test, write_movies
from movie_rating.params import SplitParams


def test_split_is_a_seeded_partition(movies):
    clean = movies.loc[:, list(PROCESSED_COLUMNS)]
    params = SplitParams(test_size=0.25, seed=3)
    train, test = split_train_test(clean, params)
    again_train, _ = split_train_test(clean, params)

    assert len(test) == 15
    assert set(train[RECORD_ID]).isdisjoint(test[RECORD_ID])
    assert set(train[RECORD_ID]) | set(test[RECORD_ID]) == set(clean[RECORD_ID])
    pd.testing.assert_frame_equal(train, again_train)
    other_seed, _ = split_train_test(clean, SplitParams(test_size=0.25, seed=4))
    assert list(other_seed[RECORD_ID]) != list(train[RECORD_ID])


def test_round_trip_keeps_empty_text_and_types(movies, tmp_path):
    clean = movies.loc[:, list(PROCESSED_COLUMNS)].copy()
    clean.loc[0, "genre"] = ""
    clean.loc[1, "overview"] = "NA"  # a word pandas would otherwise read as missing
    path = tmp_path / "out" / "train.csv"
    write_movies(clean, path)
    back = read_movies(path)

    assert back.loc[0, "genre"] == ""
    assert back.loc[1, "overview"] == "NA"
    assert back["vote_count"].dtype == "int64"
    assert back["vote_average"].dtype == "float64"
    assert back.isna().sum().sum() == 0
