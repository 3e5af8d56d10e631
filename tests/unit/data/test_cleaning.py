"""Cleaning of hand-written dirty rows: every record is either clean or quarantined, once."""

from collections import Counter

import pytest

from movie_rating.data.cleaning import (
    QUARANTINE_COLUMNS,
    RecordRejected,
    clean_movies,
    clean_record,
)
from movie_rating.data.schema import PROCESSED_COLUMNS, RECORD_ID


def test_accounting_invariant_and_reason_counts(dirty_csv, dirty_expected, clean_params):
    result = clean_movies(dirty_csv, clean_params)
    report = result.quality_report()

    assert result.records_in == dirty_expected.records_in
    assert report["records_in"] == report["clean"] + report["quarantined"]
    assert report["quarantined_by_reason"] == dict(
        sorted(Counter(dirty_expected.quarantined.values()).items())
    )
    assert report["repaired_by_reason"] == dirty_expected.repairs


def test_every_record_appears_exactly_once(dirty_csv, dirty_expected, clean_params):
    result = clean_movies(dirty_csv, clean_params)
    clean_ids = list(result.clean[RECORD_ID])
    quarantined_ids = list(result.quarantine[RECORD_ID])

    assert sorted(clean_ids + quarantined_ids) == list(range(1, dirty_expected.records_in + 1))
    assert set(clean_ids) == dirty_expected.clean_ids
    reasons = dict(zip(result.quarantine[RECORD_ID], result.quarantine["reason"], strict=True))
    assert reasons == dirty_expected.quarantined


def test_output_columns(dirty_csv, clean_params):
    result = clean_movies(dirty_csv, clean_params)
    assert tuple(result.clean.columns) == PROCESSED_COLUMNS
    assert tuple(result.quarantine.columns) == QUARANTINE_COLUMNS
    assert result.quarantine["detail"].str.len().gt(0).all()


def test_repairs_and_parsing(dirty_csv, clean_params):
    clean = clean_movies(dirty_csv, clean_params).clean.set_index(RECORD_ID)

    # quoted multi-line overview is one record and keeps its line break
    assert "\n" in clean.loc[5, "overview"]
    assert clean.loc[5, "title"] == "Zombieland: Double Tap"
    # spreadsheet-mangled title restored
    assert clean.loc[10, "title"] == "11-11-11"
    # missing genre kept as empty, not dropped
    assert clean.loc[9, "genre"] == ""
    # "7" and "35.0" parse as numbers
    assert clean.loc[11, "vote_average"] == pytest.approx(7.0)
    assert clean.loc[11, "vote_count"] == 35
    assert clean.loc[1, "original_language"] == "en"


def test_quarantine_keeps_the_raw_fields(dirty_csv, clean_params):
    quarantine = clean_movies(dirty_csv, clean_params).quarantine.set_index(RECORD_ID)
    assert quarantine.loc[3, "Release_Date"] == " - Just Desserts"
    assert quarantine.loc[7, "Release_Date"] == "Unknown"
    assert quarantine.loc[8, "Vote_Count"] == "0"
    # a short row keeps the fields it had; the rest are blank, never missing
    assert quarantine.loc[12, "Title"] == "Short Row"
    assert quarantine.loc[12, "Genre"] == ""


def test_min_vote_count_is_a_parameter(dirty_csv, clean_params):
    stricter = clean_params.model_copy(update={"min_vote_count": 100})
    result = clean_movies(dirty_csv, stricter)
    too_few = set(result.quarantine.loc[result.quarantine["reason"] == "too_few_votes", RECORD_ID])
    # record 9 (50 votes) and 11 (35 votes) now fall below the threshold too
    assert too_few == {8, 9, 11}


def _raw(**overrides: str) -> dict[str, str]:
    row = {
        "Release_Date": "2001-01-01",
        "Title": "A Title",
        "Overview": "An overview.",
        "Popularity": "1.0",
        "Vote_Count": "10",
        "Vote_Average": "6.5",
        "Original_Language": "en",
        "Genre": "Drama",
        "Poster_Url": "u",
    }
    return row | overrides


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"Release_Date": "1850-06-01"}, "implausible_release_date"),
        ({"Release_Date": "2021-02-30"}, "invalid_release_date"),
        ({"Vote_Average": "11"}, "invalid_vote_average"),
        ({"Vote_Average": "nan"}, "invalid_vote_average"),
        ({"Vote_Count": "12.5"}, "invalid_vote_count"),
        ({"Title": "   "}, "missing_title"),
        ({"Original_Language": "e1"}, "invalid_original_language"),
    ],
)
def test_clean_record_rejections(overrides, reason, clean_params):
    with pytest.raises(RecordRejected) as caught:
        clean_record(_raw(**overrides), clean_params, Counter())
    assert caught.value.reason == reason


def test_clean_record_normalises_language_and_counts_missing_overview(clean_params):
    repairs: Counter[str] = Counter()
    row = clean_record(_raw(Original_Language=" FR ", Overview=""), clean_params, repairs)
    assert row["original_language"] == "fr"
    assert repairs == Counter({"missing_overview_left_empty": 1})
