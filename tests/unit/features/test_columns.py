# ruff: noqa: RUF001  (look-alike characters are what these tests feed the tokenizers)
"""The column batch every feature step reads and writes, and the one release-date parse."""

import numpy as np
import pandas as pd
import pytest

from movie_rating.features.columns import (
    as_columns,
    parse_release_dates,
    release_months,
    release_weekdays,
    release_years,
    single_column,
    text_values,
)

NAT = np.datetime64("NaT")


def test_iso_dates_parse_to_days():
    dates = parse_release_dates(["2021-03-04", "1895-12-28", "2024-02-29", "2035-12-31"])
    assert dates.dtype == np.dtype("datetime64[D]")
    expected = ["2021-03-04", "1895-12-28", "2024-02-29", "2035-12-31"]
    np.testing.assert_array_equal(dates, np.array(expected, dtype="datetime64[D]"))


@pytest.mark.parametrize(
    "value",
    [
        "2021-02-30",  # no such day
        "2023-02-29",  # not a leap year
        "2021-13-01",  # no such month
        "2021-00-10",
        "20210101",  # not ISO
        "2019-7-4",  # unpadded
        "2021-03-04T00:00",
        "2021/03/04",
        "",
        " 2021-03-04 ",  # surrounding space: not what cleaning writes
        "２０２１-０３-０４",  # fullwidth digits are not [0-9]
        "not a date",
        None,
        np.nan,
    ],
)
def test_anything_else_is_a_missing_date(value):
    dates = parse_release_dates(["2021-03-04", value, "1999-12-31"])
    assert dates[0] == np.datetime64("2021-03-04")
    assert np.isnat(dates[1])
    assert dates[2] == np.datetime64("1999-12-31")  # one bad value spoils no other


def test_a_batch_of_only_bad_dates_and_an_empty_batch():
    assert np.isnat(parse_release_dates(["2021-02-30", None, ""])).all()
    empty = parse_release_dates([])
    assert empty.shape == (0,)
    assert empty.dtype == np.dtype("datetime64[D]")


def test_parsed_dates_pass_through():
    days = np.array(["2021-03-04", "NaT"], dtype="datetime64[D]")
    np.testing.assert_array_equal(parse_release_dates(days), days)
    seconds = np.array(["2021-03-04T13:45:00", "NaT"], dtype="datetime64[s]")
    np.testing.assert_array_equal(parse_release_dates(seconds), days)
    series = pd.Series(pd.to_datetime(["2021-03-04", None]))
    np.testing.assert_array_equal(parse_release_dates(series), days)
    # and parsing what a parse returned changes nothing (DataTypeFixer's output is re-read)
    np.testing.assert_array_equal(parse_release_dates(parse_release_dates(days)), days)


def test_years_months_and_weekdays():
    dates = parse_release_dates(["2024-01-01", "1969-12-31", "2000-02-29", "bad"])
    np.testing.assert_array_equal(release_years(dates), [2024.0, 1969.0, 2000.0, np.nan])
    np.testing.assert_array_equal(release_months(dates), [1.0, 12.0, 2.0, np.nan])
    # 2024-01-01 was a Monday (0), 1969-12-31 a Wednesday, 2000-02-29 a Tuesday
    np.testing.assert_array_equal(release_weekdays(dates), [0.0, 2.0, 1.0, np.nan])


def test_weekdays_agree_with_pandas_over_many_days():
    days = np.arange(np.datetime64("1890-01-01"), np.datetime64("2040-01-01"), 37)
    expected = pd.DatetimeIndex(days).day_of_week.to_numpy().astype(np.float64)
    np.testing.assert_array_equal(release_weekdays(days), expected)
    np.testing.assert_array_equal(release_years(days), pd.DatetimeIndex(days).year)
    np.testing.assert_array_equal(release_months(days), pd.DatetimeIndex(days).month)


def test_text_values_turn_missing_values_into_empty_strings():
    values = np.array(["a", None, np.nan, 3, "", " b "], dtype=object)
    assert text_values(values) == ["a", "", "", "3", "", " b "]


def test_text_values_read_pandas_missing_strings_as_empty():
    assert text_values(pd.array(["a", pd.NA], dtype="string")) == ["a", ""]


def test_a_nan_in_a_list_of_strings_is_a_missing_value():
    columns = as_columns({"title": ["a b", float("nan")]}, "who")
    frame = as_columns(pd.DataFrame({"title": ["a b", float("nan")]}), "who")
    assert text_values(frame["title"]) == ["a b", ""]
    assert text_values(columns["title"]) == ["a b", ""]


def test_as_columns_reads_frames_and_mappings():
    frame = pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]})
    from_frame = as_columns(frame, "who")
    from_mapping = as_columns({"a": ["x", "y"], "b": (1.0, 2.0)}, "who")
    assert list(from_frame) == list(from_mapping) == ["a", "b"]
    for name in ("a", "b"):
        assert isinstance(from_mapping[name], np.ndarray)
        np.testing.assert_array_equal(from_frame[name], from_mapping[name])
    with pytest.raises(TypeError, match="who expects a DataFrame or a mapping"):
        as_columns(np.zeros((2, 2)), "who")


@pytest.mark.parametrize(
    "values",
    [
        ["a", None],
        np.array(["a", None], dtype=object),
        pd.Series(["a", None]),
        pd.DataFrame({"c": ["a", None]}),
        {"c": ["a", None]},
        np.array([["a"], [None]], dtype=object),
    ],
    ids=["list", "array", "series", "frame", "mapping", "column"],
)
def test_single_column_accepts_every_one_column_shape(values):
    assert single_column(values, "who") == ["a", ""]


@pytest.mark.parametrize(
    "values",
    [
        pd.DataFrame({"a": ["x"], "b": ["y"]}),
        {"a": ["x"], "b": ["y"]},
        np.array([["x", "y"]], dtype=object),
    ],
    ids=["frame", "mapping", "array"],
)
def test_single_column_rejects_several_columns(values):
    with pytest.raises(ValueError, match="one column"):
        single_column(values, "who")
