"""Files are written whole or not at all: an interrupted write keeps the previous file."""

import json
import os
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from movie_rating.data.split import read_movies, write_movies
from movie_rating.outputs import replacing, write_json, write_text


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_scratch(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("previous\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt), replacing(target) as scratch:
        scratch.write_text('{"half": ', encoding="utf-8")
        raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == "previous\n"
    assert list(tmp_path.iterdir()) == [target]


def test_an_interrupted_first_write_leaves_nothing(tmp_path):
    target = tmp_path / "new" / "report.md"
    with pytest.raises(OSError), replacing(target) as scratch:
        scratch.write_text("# half", encoding="utf-8")
        raise OSError("No space left on device")
    assert list((tmp_path / "new").iterdir()) == []


def test_the_scratch_file_is_hidden_beside_the_target_with_its_suffix(tmp_path):
    target = tmp_path / "matrices.joblib"
    with replacing(target) as scratch:
        assert scratch.parent == tmp_path
        assert scratch.name.startswith(".") and scratch.suffix == ".joblib"
        assert not target.exists()
        scratch.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"


def test_a_written_file_is_readable_by_all_in_folders_made_for_it(tmp_path):
    target = tmp_path / "a" / "b" / "metrics.json"
    write_json(target, {"rmse": 0.5}, indent=4)
    assert json.loads(target.read_text(encoding="utf-8")) == {"rmse": 0.5}
    assert target.read_text(encoding="utf-8").endswith("}\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_text_replaces_the_whole_file(tmp_path):
    target = tmp_path / "card.md"
    write_text(target, "a much longer first version\n")
    write_text(target, "short\n")
    assert target.read_bytes() == b"short\n"


def test_a_movies_file_interrupted_mid_write_is_the_previous_one(tmp_path, monkeypatch):
    target = tmp_path / "train.csv"
    previous = pd.DataFrame({"title": ["Alien"], "vote_average": [8.1]})
    write_movies(previous, target)
    real_to_csv = pd.DataFrame.to_csv

    def to_csv(frame: pd.DataFrame, path: Any, **kwargs: Any) -> None:
        real_to_csv(frame.head(1), path, **kwargs)  # a first chunk, then the process is killed
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    with pytest.raises(KeyboardInterrupt):
        write_movies(pd.DataFrame({"title": ["Up", "Heat"], "vote_average": [7.9, 7.8]}), target)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(pd.read_csv(target), previous)
    assert [path.name for path in tmp_path.iterdir()] == ["train.csv"]


def test_movies_read_back_as_written(tmp_path):
    frame = pd.DataFrame({"record_id": [1, 2], "title": ["Up", ""], "vote_average": [7.9, 6.0]})
    write_movies(frame, Path(tmp_path / "split" / "test.csv"))
    pd.testing.assert_frame_equal(read_movies(tmp_path / "split" / "test.csv"), frame)


def test_movies_files_end_lines_with_a_newline_on_every_os(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "linesep", "\r\n")  # as on Windows, where pandas reads it
    write_movies(pd.DataFrame({"title": ["Up", "Heat"]}), tmp_path / "test.csv")
    assert (tmp_path / "test.csv").read_bytes() == b"title\nUp\nHeat\n"
