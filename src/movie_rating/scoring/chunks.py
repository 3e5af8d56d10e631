"""One chunk of input rows, validated and rated: the input's columns, then the results.

Each row is checked as `MovieInput`, the API's own request model, so a file and a request
accept the same movies. Pydantic costs ~4 us a row, as much as a tenth of rating it, so the
columns are first checked as plain Python values: a row whose every field passes the checks
below is one `MovieInput` accepts as is (a property test checks this on generated rows), and
only the others go through `MovieInput`, which accepts them or says why not, field by field.
Valid rows are rated together on the predictor's batch path; an invalid row keeps its place
with an empty rating and the field and reason in its `error` column. Optional inputs
(overview, genre) that are absent or empty are "".
"""

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.errors import MovieRatingError
from movie_rating.scoring.files import Chunk
from movie_rating.serving.explain import FIELDS
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import (
    LANGUAGE_PATTERN,
    MAX_GENRE_LIST_CHARS,
    MAX_OVERVIEW_CHARS,
    MAX_RELEASE_DATE,
    MAX_TITLE_CHARS,
    MIN_RELEASE_DATE,
    RELEASE_DATE_PATTERN,
    MovieInput,
    genre_problem,
)

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
    """The input's column names, checked before any row is read: each name once (a second
    `title` would be dropped or misread), the required ones there, no output one taken."""
    repeated = sorted(column for column, count in Counter(columns).items() if count > 1)
    if repeated:
        raise MovieRatingError(f"{name} has more than one column named {repeated}")
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


@dataclass(frozen=True)
class Validated:
    """A chunk's valid rows as the pipeline's input columns, their indexes in the chunk, and
    each invalid row's reason by index."""

    columns: dict[str, np.ndarray]
    positions: list[int]
    errors: dict[int, str]


def validate(chunk: Chunk) -> Validated:
    """The chunk's rows as `MovieInput` takes them: the valid ones' columns (as `as_row`
    gives them), and a reason for each other row."""
    table, count = chunk.table, chunk.table.num_rows
    given = {c: table.column(c).to_pylist() for c in REQUIRED_COLUMNS}
    for c in OPTIONAL_COLUMNS:
        column = table.column(c).to_pylist() if c in table.column_names else [""] * count
        given[c] = [value or "" for value in column]
    kept: dict[str, list[Any]] = {c: [] for c in INPUT_FEATURES}
    positions: list[int] = []
    errors: dict[int, str] = {}
    verdicts: dict[tuple[str, Any], bool] = {}
    rows = zip(*(given[c] for c in INPUT_FEATURES), strict=True)
    for index, values in enumerate(rows):
        if index in chunk.broken:
            errors[index] = chunk.broken[index]
            continue
        row = dict(zip(INPUT_FEATURES, values, strict=True))
        if not _plainly_valid(row, verdicts):
            try:
                row = MovieInput.model_validate(row).as_row()
            except ValidationError as error:
                errors[index] = describe(error)
                continue
        for c in INPUT_FEATURES:
            kept[c].append(row[c])
        positions.append(index)
    columns = {c: np.empty(len(positions), dtype=object) for c in INPUT_FEATURES}
    for c in INPUT_FEATURES:
        columns[c][:] = kept[c]
    return Validated(columns, positions, errors)


_LANGUAGE: Final = re.compile(LANGUAGE_PATTERN)
_ISO_DATE: Final = re.compile(RELEASE_DATE_PATTERN)


def _plainly_valid(row: dict[str, Any], verdicts: dict[tuple[str, Any], bool]) -> bool:
    """True only if `MovieInput` accepts the row with every value unchanged (`as_row` gives
    them back as they are); False leaves the verdict to `MovieInput`. The genres, languages
    and dates of a chunk repeat: each distinct one is checked once (`verdicts`)."""
    title, overview = row["title"], row["overview"]
    if not (type(title) is str and 0 < len(title) <= MAX_TITLE_CHARS and not title.isspace()):
        return False
    if not (type(overview) is str and len(overview) <= MAX_OVERVIEW_CHARS):
        return False
    for name, check in _CHECKS.items():
        value = row[name]
        if type(value) is not str:
            return False
        verdict = verdicts.get((name, value))
        if verdict is None:
            verdict = verdicts[name, value] = check(value)
        if not verdict:
            return False
    return True


def _iso_date_in_range(value: str) -> bool:
    if not _ISO_DATE.fullmatch(value):
        return False
    try:
        return MIN_RELEASE_DATE <= date.fromisoformat(value) <= MAX_RELEASE_DATE
    except ValueError:
        return False


_CHECKS: Final = {
    "genre": lambda g: len(g) <= MAX_GENRE_LIST_CHARS and genre_problem(g) is None,
    "original_language": lambda lang: _LANGUAGE.fullmatch(lang) is not None,
    "release_date": _iso_date_in_range,
}


def rate_chunk(
    predictor: ProductionPredictor, chunk: Chunk, level: float | None, explain: bool
) -> Rated:
    valid = validate(chunk)
    positions, errors = valid.positions, valid.errors
    scored = predictor.score_columns(valid.columns)
    names = list(RATING_COLUMNS)
    values = np.column_stack([scored.ratings, predictor.intervals(scored, level)])
    if explain:
        explained = predictor.explain_columns(valid.columns)
        names += EXPLANATION_COLUMNS
        baseline = np.full((len(positions), 1), explained.baseline)
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
