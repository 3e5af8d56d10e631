"""One chunk of input rows, validated and rated: the input's columns, then the results.

Each row is checked by `MovieInput`, the API's own request model, so a file and a request
accept the same movies. Valid rows are rated together on the predictor's batch path (cut
into one part per core); an invalid row keeps its place with an empty rating and the field
and reason in its `error` column. Optional inputs (overview, genre) that are absent or empty
are "".
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from movie_rating.errors import MovieRatingError
from movie_rating.scoring.files import WRONG_FIELD_COUNT, Chunk
from movie_rating.serving.explain import FIELDS
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import MovieInput

REQUIRED_COLUMNS: Final = ("title", "original_language", "release_date")
OPTIONAL_COLUMNS: Final = ("overview", "genre")
RATING_COLUMNS: Final = ("predicted_rating", "interval_low", "interval_high")
EXPLANATION_COLUMNS: Final = ("explanation_baseline", *(f"contribution_{f}" for f in FIELDS))
ERROR_COLUMN: Final = "error"
DECIMALS: Final = 4


def describe(error: ValidationError) -> str:
    """`field: message` for each problem, on one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
    )


def check_columns(columns: Sequence[str], name: str) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise MovieRatingError(f"{name} lacks column(s) {missing}; it has {list(columns)}")
    taken = [c for c in (*RATING_COLUMNS, *EXPLANATION_COLUMNS, ERROR_COLUMN) if c in columns]
    if taken:
        raise MovieRatingError(f"{name} already has output column(s) {taken}")


@dataclass(frozen=True)
class Rated:
    """A chunk's output table and its invalid rows: (row number, line or None, reason)."""

    table: pa.Table
    invalid: list[tuple[int, int | None, str]]


def rate_chunk(
    predictor: ProductionPredictor, chunk: Chunk, level: float | None, explain: bool
) -> Rated:
    movies: list[MovieInput] = []
    positions: list[int] = []
    errors: dict[int, str] = {}
    for index, row in enumerate(chunk.rows):
        if index in chunk.broken:
            errors[index] = WRONG_FIELD_COUNT
            continue
        fields = {c: row[c] for c in REQUIRED_COLUMNS}
        fields |= {c: row.get(c) or "" for c in OPTIONAL_COLUMNS}
        try:
            movies.append(MovieInput.model_validate(fields))
            positions.append(index)
        except ValidationError as error:
            errors[index] = describe(error)

    scored = predictor.score_many(movies)
    names = list(RATING_COLUMNS)
    values = np.column_stack([scored.ratings, predictor.intervals(scored, level)])
    if explain:
        explained = predictor.explain_many(movies)
        names += EXPLANATION_COLUMNS
        baseline = np.full((len(movies), 1), explained.baseline)
        values = np.column_stack([values, baseline, explained.contributions])
    table = chunk.table
    count = table.num_rows
    for name, column in zip(names, np.round(values, DECIMALS).T, strict=True):
        full = np.full(count, np.nan)
        full[positions] = column
        table = table.append_column(name, pa.array(full, pa.float64(), mask=np.isnan(full)))
    messages: list[Any] = [errors.get(index, "") for index in range(count)]
    table = table.append_column(ERROR_COLUMN, pa.array(messages, pa.string()))
    invalid = [
        (chunk.first_number + index, chunk.lines[index] if chunk.lines else None, message)
        for index, message in sorted(errors.items())
    ]
    return Rated(table, invalid)
