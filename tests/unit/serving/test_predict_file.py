"""The file half of the predict CLI, in process (the subprocess runs are in tests/e2e):
chunked CSV and Parquet, invalid rows kept in place, an output whole or absent."""

import csv
import multiprocessing
import os
import signal
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_fixtures import synthetic_movies

from movie_rating.errors import MovieRatingError
from movie_rating.scoring import run
from movie_rating.scoring.run import Options, score_file

GOOD = "title,overview,genre,original_language,release_date\nA,x,Drama,en,2020-01-01\n"


def predict_file(predictor, source, out, explain=False, chunk_rows=1000, messages=None):
    """`score_file` as the CLI runs it: the number of invalid rows, their lines in `messages`."""
    options = Options(explain=explain, chunk_rows=chunk_rows)
    report = messages.append if messages is not None else None
    return score_file(predictor, source, out, options, report=report).invalid


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def leftovers(folder):
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_all_good_rows_report_no_failures(predictor, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(GOOD + "B,,,fr,1999-05-05\n", encoding="utf-8")
    scored = score_file(predictor, source, out, Options())
    assert (scored.rows, scored.invalid) == (2, 0)
    assert scored.summary("out.csv") == "2 rows: 2 rated, 0 invalid; written to out.csv"
    rows = read_csv(out)
    assert [r["title"] for r in rows] == ["A", "B"]
    assert all(r["predicted_rating"] and not r["error"] for r in rows)
    assert all(float(r["interval_low"]) <= float(r["interval_high"]) for r in rows)


def test_ragged_rows_are_reported_not_dropped(predictor, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(GOOD + "B,x,Drama\nC,x,Drama,en,2001-01-01,extra\n", encoding="utf-8")
    messages = []
    assert predict_file(predictor, source, out, messages=messages) == 2
    assert messages == [
        "row 2 (line 3): row: wrong number of fields",
        "row 3 (line 4): row: wrong number of fields",
    ]
    rows = read_csv(out)
    assert [r["title"] for r in rows] == ["A", "B", "C"]
    assert [bool(r["error"]) for r in rows] == [False, True, True]


def test_a_field_too_long_to_read_is_its_rows_error_not_the_files(predictor, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    long_row = "B," + "x" * 200_000 + ",Drama,en,2001-01-01\n"  # over the csv module's limit
    source.write_text(GOOD + long_row + "C,x,Drama,en,2001-01-01\n", encoding="utf-8")
    messages = []
    assert predict_file(predictor, source, out, chunk_rows=2, messages=messages) == 1
    assert messages == ["row 2 (line 3): row: field larger than field limit (131072)"]
    rows = read_csv(out)
    assert [r["title"] for r in rows] == ["A", "", "C"]
    assert [bool(r["predicted_rating"]) for r in rows] == [True, False, True]


def test_chunks_change_nothing_and_parquet_matches_csv(predictor, tmp_path):
    frame = synthetic_movies(50, seed=3)
    frame.insert(0, "record_id", range(100, 150))
    frame.loc[7, "release_date"] = "2099-01-01"  # invalid: after the latest date accepted
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    assert predict_file(predictor, source, whole, explain=True) == 1
    assert predict_file(predictor, source, chunked, explain=True, chunk_rows=7) == 1
    assert whole.read_bytes() == chunked.read_bytes()

    parquet_in, parquet_out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(parquet_in, index=False)
    assert predict_file(predictor, parquet_in, parquet_out, chunk_rows=16) == 1
    table = pq.read_table(parquet_out)
    assert table.schema.field("record_id").type == pa.int64()  # carried through, typed
    rated = table.to_pylist()
    rows = read_csv(whole)
    assert [r["record_id"] for r in rated] == list(range(100, 150))
    assert rated[7]["predicted_rating"] is None and "release_date" in rated[7]["error"]
    for row, from_csv in zip(rated, rows, strict=True):
        if row["predicted_rating"] is not None:
            assert row["predicted_rating"] == float(from_csv["predicted_rating"])
            assert row["interval_high"] == float(from_csv["interval_high"])


def test_a_missing_column_or_unreadable_file_stops_before_any_output(predictor, tmp_path):
    with pytest.raises(MovieRatingError, match=r"cannot read missing\.csv"):
        predict_file(predictor, tmp_path / "missing.csv", tmp_path / "o.csv")
    source = tmp_path / "cols.csv"
    source.write_text("title,genre\nX,Drama\n", encoding="utf-8")
    with pytest.raises(MovieRatingError, match=r"lacks column\(s\) \['original_language'"):
        predict_file(predictor, source, tmp_path / "o.csv")
    parquet = tmp_path / "cols.parquet"
    synthetic_movies(5).drop(columns="title").to_parquet(parquet)
    with pytest.raises(MovieRatingError, match=r"cols.parquet lacks column\(s\) \['title'\]"):
        predict_file(predictor, parquet, tmp_path / "o.parquet")
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "o.parquet").exists()
    assert leftovers(tmp_path) == []


def test_a_repeated_column_name_stops_before_any_output(predictor, tmp_path):
    source = tmp_path / "twice.csv"
    source.write_text(GOOD.replace("overview,genre", "title,genre"), encoding="utf-8")
    with pytest.raises(
        MovieRatingError, match=r"twice.csv has more than one column named \['title'\]"
    ):
        predict_file(predictor, source, tmp_path / "o.csv")
    parquet = tmp_path / "twice.parquet"
    frame = synthetic_movies(3)
    table = pa.Table.from_arrays(
        [pa.array(frame[c]) for c in frame.columns] + [pa.array(frame["genre"])],
        names=[*frame.columns, "genre"],
    )
    pq.write_table(table, parquet)
    with pytest.raises(MovieRatingError, match=r"more than one column named \['genre'\]"):
        predict_file(predictor, parquet, tmp_path / "o.parquet")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["twice.csv", "twice.parquet"]


def test_a_byte_order_mark_is_not_part_of_the_first_column(predictor, tmp_path):
    source, out = tmp_path / "excel.csv", tmp_path / "out.csv"
    source.write_text("\ufeff" + GOOD, encoding="utf-8")  # what spreadsheets save as "UTF-8"
    assert predict_file(predictor, source, out) == 0
    (row,) = read_csv(out)
    assert next(iter(row)) == "title" and row["title"] == "A" and row["predicted_rating"]


@pytest.mark.parametrize("stop", ["error", "sigterm", "ctrl-c"])
def test_a_run_stopped_midway_leaves_no_output(predictor, tmp_path, monkeypatch, stop):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    synthetic_movies(30).to_csv(source, index=False)
    real, before = run.rate_chunk, signal.getsignal(signal.SIGTERM)
    calls = []

    def second_chunk_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            if stop == "error":
                raise MovieRatingError("boom")
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(run, "rate_chunk", second_chunk_fails)
    expected = KeyboardInterrupt if stop == "ctrl-c" else MovieRatingError
    with pytest.raises(expected):
        predict_file(predictor, source, out, chunk_rows=10)
    assert len(calls) == 2  # the first chunk was written to the scratch file
    assert not out.exists() and leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_worker_processes_write_what_one_process_writes(predictor, tmp_path):
    frame = synthetic_movies(60, seed=5)
    frame.loc[3, "title"] = " "
    frame.loc[41, "original_language"] = "English"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    outputs, reports = [], []
    for processes in (1, 2):
        out, messages = tmp_path / f"out{processes}.csv", []
        options = Options(explain=True, chunk_rows=7, processes=processes)
        scored = score_file(predictor, source, out, options, report=messages.append)
        assert (scored.rows, scored.invalid) == (60, 2)
        outputs.append(out.read_bytes())
        reports.append(messages)
    assert outputs[0] == outputs[1]
    assert reports[0] == reports[1] and [m.split(":")[0] for m in reports[0]] == [
        "row 4 (line 5)",
        "row 42 (line 43)",
    ]


def test_a_worker_that_dies_stops_the_run_without_output(predictor, tmp_path):
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    frame = synthetic_movies(300, seed=6)
    frame.loc[0, "title"] = ""  # reported from the first chunk: then a worker is killed
    frame.to_csv(source, index=False)
    before = {child.pid for child in multiprocessing.active_children()}

    def kill_a_worker(message: str) -> None:
        workers = [c for c in multiprocessing.active_children() if c.pid not in before]
        os.kill(workers[0].pid, signal.SIGKILL)

    options = Options(chunk_rows=10, processes=2)
    with pytest.raises(MovieRatingError, match="a scoring worker process died"):
        score_file(predictor, source, out, options, report=kill_a_worker)
    assert not out.exists() and leftovers(tmp_path) == []
    assert {child.pid for child in multiprocessing.active_children()} <= before


FREE_AND_ALLOCATE = """
import resource, sys
from movie_rating.scoring import run

if sys.argv[1] == "kept":
    run._keep_freed_memory()


def cycle():  # a chunk's buffers, allocated (and written) together, then freed
    blocks = [bytearray(8 << 20) for _ in range(4)]
    del blocks


cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cycle()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
def test_kept_freed_memory_is_reused_instead_of_faulted_in_again():
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", FREE_AND_ALLOCATE, mode],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for mode in ("default", "kept")
    }
    # 32 MB is ~8,000 pages: malloc returns them after each cycle unless told to keep them
    assert faults["default"] > 4000
    assert faults["kept"] < 400
