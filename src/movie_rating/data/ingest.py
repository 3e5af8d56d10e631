"""Ingest: accept the raw CSV only if it is byte-for-byte the file recorded in params.yaml."""

import csv
import hashlib
import shutil
from pathlib import Path

from movie_rating.data.schema import RAW_COLUMNS
from movie_rating.errors import MovieRatingError
from movie_rating.outputs import replacing

_CHUNK_BYTES = 1 << 20


class IngestError(MovieRatingError):
    """The raw file cannot be accepted; the message is one sentence meant for the user."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def verify_raw_file(path: Path, expected_sha256: str) -> None:
    """Raise IngestError unless `path` exists, has every raw column and the expected checksum."""
    if not path.is_file():
        raise IngestError(
            f"raw data file {path} does not exist; expected the TMDB movies CSV "
            f"(sha256 {expected_sha256})"
        )
    # Columns first: "column X is missing" tells more than a checksum mismatch does.
    missing = [column for column in RAW_COLUMNS if column not in read_header(path)]
    if missing:
        raise IngestError(f"raw data file {path} lacks the column(s) {', '.join(missing)}")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise IngestError(
            f"raw data file {path} has sha256 {actual}, expected {expected_sha256} "
            "(params.yaml ingest.sha256): the file is not the recorded upstream data"
        )


def ingest(source: Path, destination: Path, expected_sha256: str) -> None:
    """Verify `source` and copy it unchanged to `destination` (data/raw is never edited)."""
    verify_raw_file(source, expected_sha256)
    with replacing(destination) as scratch:
        shutil.copyfile(source, scratch)
