"""Property: whatever the raw file holds, every record comes out exactly once."""

import csv

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from movie_rating.data.cleaning import clean_movies
from movie_rating.data.schema import RAW_COLUMNS, RECORD_ID
from movie_rating.params import CleanParams

PARAMS = CleanParams(min_vote_count=1, min_release_year=1870, max_release_year=2030)

# Any text a UTF-8 file can hold (no lone surrogates), commas, quotes and line breaks included.
_CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
_good_fields = st.fixed_dictionaries(
    {
        "Release_Date": st.sampled_from(["2001-02-03", "1999-12-31", "2021-13-45", "", "x"]),
        "Title": st.sampled_from(["Heat", "11/11/2011", "", " Alien "]),
        "Overview": st.text(_CHARS, max_size=30),
        "Popularity": st.sampled_from(["1.5", "", "7"]),
        "Vote_Count": st.sampled_from(["0", "12", "35.0", "1,2", "-3"]),
        "Vote_Average": st.sampled_from(["7", "6.5", "0", "11", "nan", ""]),
        "Original_Language": st.sampled_from(["en", "FR", "", "e1"]),
        "Genre": st.sampled_from(["Drama", "", "Action, Comedy"]),
        "Poster_Url": st.just("u"),
    }
).map(lambda row: [row[c] for c in RAW_COLUMNS])
_ragged = st.lists(st.text(_CHARS, max_size=12), max_size=12)


@settings(
    max_examples=60,
    deadline=None,
    database=None,  # no example database written into the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(st.one_of(_good_fields, _ragged), max_size=15))
def test_every_record_is_clean_or_quarantined_once(rows, tmp_path):
    path = tmp_path / "raw.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RAW_COLUMNS)
        writer.writerows(rows)
    with path.open(encoding="utf-8", newline="") as handle:
        expected_records = sum(1 for _ in csv.reader(handle)) - 1

    result = clean_movies(path, PARAMS)
    report = result.quality_report()
    ids = sorted([*result.clean[RECORD_ID], *result.quarantine[RECORD_ID]])

    assert result.records_in == expected_records
    assert report["records_in"] == report["clean"] + report["quarantined"]
    assert ids == list(range(1, expected_records + 1))
    assert sum(report["quarantined_by_reason"].values()) == report["quarantined"]
    assert result.clean["vote_average"].between(0, 10).all()
    assert (result.clean["vote_count"] >= PARAMS.min_vote_count).all()
