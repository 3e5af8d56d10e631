"""The CSV half of the predict CLI, in process (the subprocess runs are in tests/e2e)."""

import csv

import pytest

from movie_rating.errors import MovieRatingError
from movie_rating.predict import predict_csv

GOOD = "title,overview,genre,original_language,release_date\nA,x,Drama,en,2020-01-01\n"


def test_all_good_rows_report_no_failures(predictor, tmp_path, capsys):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(GOOD + "B,,,fr,1999-05-05\n", encoding="utf-8")
    assert predict_csv(predictor, source, out) == 0
    assert "2 rows: 2 rated, 0 invalid" in capsys.readouterr().err
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["title"] for r in rows] == ["A", "B"]
    assert all(r["predicted_rating"] and not r["error"] for r in rows)


def test_ragged_rows_are_reported_not_dropped(predictor, tmp_path, capsys):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(GOOD + "B,x,Drama\nC,x,Drama,en,2001-01-01,extra\n", encoding="utf-8")
    assert predict_csv(predictor, source, out) == 2
    err = capsys.readouterr().err
    assert "row 2 (line 3)" in err and "row 3 (line 4)" in err
    with out.open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 3


def test_unreadable_or_incomplete_files_stop_the_run(predictor, tmp_path):
    with pytest.raises(MovieRatingError, match="cannot read"):
        predict_csv(predictor, tmp_path / "missing.csv", tmp_path / "o.csv")
    source = tmp_path / "cols.csv"
    source.write_text("title,genre\nX,Drama\n", encoding="utf-8")
    with pytest.raises(MovieRatingError, match=r"lacks column\(s\) \['original_language'"):
        predict_csv(predictor, source, tmp_path / "o.csv")
