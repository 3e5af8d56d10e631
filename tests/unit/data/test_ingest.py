"""Ingest accepts only the byte-identical file recorded in params.yaml."""

import pytest

from movie_rating.data.ingest import IngestError, ingest, sha256_of, verify_raw_file

_SHA_ZERO = "0" * 64


def test_checksum_mismatch_names_file_and_both_checksums(dirty_csv):
    actual = sha256_of(dirty_csv)
    with pytest.raises(IngestError) as caught:
        verify_raw_file(dirty_csv, _SHA_ZERO)
    message = str(caught.value)
    assert str(dirty_csv) in message
    assert actual in message
    assert _SHA_ZERO in message


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(IngestError, match="does not exist") as caught:
        verify_raw_file(missing, _SHA_ZERO)
    assert str(missing) in str(caught.value)


def test_missing_column_is_reported_before_the_checksum(dirty_csv, tmp_path):
    lines = dirty_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    no_genre = tmp_path / "no_genre.csv"
    no_genre.write_text(lines[0].replace(",Genre", "") + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(IngestError, match="Genre") as caught:
        verify_raw_file(no_genre, sha256_of(no_genre))
    assert "sha256" not in str(caught.value)


def test_ingest_copies_the_verified_file_unchanged(dirty_csv, tmp_path):
    destination = tmp_path / "raw" / "movies.csv"
    ingest(dirty_csv, destination, sha256_of(dirty_csv))
    assert destination.read_bytes() == dirty_csv.read_bytes()


def test_ingest_writes_nothing_when_verification_fails(dirty_csv, tmp_path):
    destination = tmp_path / "raw" / "movies.csv"
    with pytest.raises(IngestError):
        ingest(dirty_csv, destination, _SHA_ZERO)
    assert not destination.exists()
