"""One file of movies scored into one output file, chunk by chunk (see `files`, `chunks`)."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tqdm import tqdm

from movie_rating.scoring.chunks import check_columns, rate_chunk
from movie_rating.scoring.files import columns_of, read_chunks, writing
from movie_rating.serving.predict import ProductionPredictor

CHUNK_ROWS: Final = 20_000
# Invalid rows reported one by one, then only counted (every one is in the output).
MAX_REPORTED: Final = 1000


@dataclass(frozen=True)
class Options:
    level: float | None = None  # None: the model card's default
    explain: bool = False
    chunk_rows: int = CHUNK_ROWS


@dataclass(frozen=True)
class Scored:
    rows: int
    invalid: int

    def summary(self, out: str) -> str:
        rated = self.rows - self.invalid
        return f"{self.rows} rows: {rated} rated, {self.invalid} invalid; written to {out}"


def score_file(
    predictor: ProductionPredictor,
    source: Path,
    out: Path,
    options: Options,
    report: Callable[[str], None] | None = None,
    progress: bool = False,
) -> Scored:
    """Rate every valid row of `source` into `out` (whole, or not at all); `report` gets one
    line per invalid row (its number, line for a CSV, field and reason), up to MAX_REPORTED."""
    check_columns(columns_of(source), source.name)
    rows = invalid = 0
    bar = tqdm(unit=" rows", disable=not progress)
    with writing(out) as writer, bar:
        for chunk in read_chunks(source, options.chunk_rows):
            rated = rate_chunk(predictor, chunk, options.level, options.explain)
            writer.write(rated.table)
            for number, line, message in rated.invalid:
                invalid += 1
                if report is not None and invalid <= MAX_REPORTED:
                    where = f"row {number}" + (f" (line {line})" if line is not None else "")
                    bar.clear()
                    report(f"{where}: {message}")
            rows += rated.table.num_rows
            bar.update(rated.table.num_rows)
    if report is not None and invalid > MAX_REPORTED:
        report(f"... and {invalid - MAX_REPORTED} more invalid rows")
    return Scored(rows, invalid)
