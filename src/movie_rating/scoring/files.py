"""Movie files read in chunks and written beside, then renamed: constant memory, no half file.

CSV is read with the standard library's `csv` module, one chunk of rows at a time: a row with
the wrong number of fields stays in its place, to be reported, where pyarrow's CSV reader can
only skip it (dropping the row) or stop; a UTF-8 byte order mark (spreadsheets write one) is
not part of the first column's name. Parquet is read a record batch at a time with pyarrow.
The output is CSV or Parquet by its suffix, written with pyarrow to a hidden file in the
output's folder and renamed onto it only when every chunk is written; an error or an
interruption (Ctrl-C, SIGTERM) removes it, so the output is whole or absent.
"""

import csv
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from movie_rating.errors import MovieRatingError, reason

PARQUET_SUFFIXES: Final = (".parquet", ".pq")
WRONG_FIELD_COUNT: Final = "row: wrong number of fields"


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of the input: the columns as they came (`table`: strings from a CSV,
    the file's own types from Parquet), the first row's number (1-based, counted over the
    whole file), each row's line (CSV only), and the rows that could not be parsed into the
    header's columns, with why (their fields as far as they go, the rest empty)."""

    table: pa.Table
    first_number: int
    lines: list[int] | None
    broken: Mapping[int, str]  # row index in `table` -> reason


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def columns_of(path: Path) -> list[str]:
    """The input's column names, read from its header or schema alone."""
    try:
        if is_parquet(path):
            return list(pq.ParquetFile(path).schema_arrow.names)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as error:
        raise MovieRatingError(f"cannot read {path.name}: {reason(error)}") from None


def read_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    """`path` (CSV or Parquet), `chunk_rows` rows at a time."""
    try:
        yield from (_parquet_chunks if is_parquet(path) else _csv_chunks)(path, chunk_rows)
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as error:
        raise MovieRatingError(f"cannot read {path.name}: {reason(error)}") from None


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        width = len(header)
        rows_read = _rows(reader)
        number = 1
        while True:
            rows: list[list[str]] = []
            lines: list[int] = []
            broken: dict[int, str] = {}
            for row, problem in rows_read:
                if not row and problem is None:  # a blank line is no row (as `csv.DictReader`)
                    continue
                if problem is None and len(row) != width:
                    problem = WRONG_FIELD_COUNT
                if problem is not None:
                    broken[len(rows)] = problem
                    row = (row + [""] * width)[:width]
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) == chunk_rows:
                    break
            if not rows:
                return
            # (a list per column: pyarrow converts a list ~4x faster than a tuple from zip)
            table = pa.table(
                {
                    name: pa.array([row[i] for row in rows], pa.string())
                    for i, name in enumerate(header)
                }
            )
            yield Chunk(table, number, lines, broken)
            number += len(rows)


def _rows(reader: Any) -> Iterator[tuple[list[str], str | None]]:
    """Each row the reader reads, with None; where it cannot read one (a field longer than the
    `csv` module's limit, 131,072 characters), no fields and why. The reader goes on at the
    next line, so one such row does not stop the file."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield [], f"row: {error}"
            continue
        yield row, None


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    number = 1
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        table = pa.Table.from_batches([batch])
        yield Chunk(table, number, None, {})
        number += table.num_rows


class OutputWriter:
    """Appends tables to the output, CSV or Parquet by its suffix (through `writing`)."""

    def __init__(self, scratch: Path, out: Path) -> None:
        self._scratch = scratch
        self._out = out
        self._writer: Any = None

    def write(self, table: pa.Table) -> None:
        with writing_to(self._out):
            if self._writer is None:
                if is_parquet(self._out):
                    self._writer = pq.ParquetWriter(self._scratch, table.schema)
                else:
                    self._writer = pa_csv.CSVWriter(self._scratch, table.schema)
            self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            with writing_to(self._out):
                self._writer.close()


class Interrupted(MovieRatingError):
    """SIGTERM arrived while writing."""


@contextmanager
def writing(out: Path) -> Iterator[OutputWriter]:
    """A writer to a hidden file beside `out`, renamed onto `out` if the block succeeds and
    removed otherwise (also on SIGTERM, which is turned into an error while the block runs in
    the main thread). A file that cannot be written is one sentence naming it."""
    with writing_to(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(handle)
    scratch = Path(name)
    writer = OutputWriter(scratch, out)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Interrupted("interrupted: no output written")

    # Only the main thread may handle signals (a Dask worker runs this in another thread).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield writer
        writer.close()
        with writing_to(out):
            scratch.chmod(0o644)
            scratch.replace(out)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        scratch.unlink(missing_ok=True)


@contextmanager
def writing_to(out: Path) -> Iterator[None]:
    """An OS or Arrow error inside the block, writing `out`, as one sentence naming it."""
    try:
        yield
    except (OSError, pa.ArrowException) as error:
        raise MovieRatingError(f"cannot write {out.name}: {reason(error)}") from None
