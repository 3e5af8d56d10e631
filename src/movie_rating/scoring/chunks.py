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
    errors = dict(chunk.broken)
    for index, plain in enumerate(_plainly_valid(given)):
        if plain or index in errors:
            continue
        try:
            row = MovieInput.model_validate({c: given[c][index] for c in INPUT_FEATURES}).as_row()
        except ValidationError as error:
            errors[index] = describe(error)
            continue
        for c in INPUT_FEATURES:
            given[c][index] = row[c]
    positions = [index for index in range(count) if index not in errors]
    columns = {c: np.empty(len(positions), dtype=object) for c in INPUT_FEATURES}
    for c in INPUT_FEATURES:
        columns[c][:] = [given[c][index] for index in positions] if errors else given[c]
    return Validated(columns, positions, dict(sorted(errors.items())))


_LANGUAGE: Final = re.compile(LANGUAGE_PATTERN)
_ISO_DATE: Final = re.compile(RELEASE_DATE_PATTERN)


def _plainly_valid(given: dict[str, list[Any]]) -> list[bool]:
    """For each row, True only if `MovieInput` accepts it with every value unchanged (`as_row`
    gives them back as they are); False leaves the verdict to `MovieInput`. Checked column by
    column, without a dict per row; the genres, languages and dates of a chunk repeat, so
    each distinct one is checked once."""
    plain = [
        type(title) is str
        and 0 < len(title) <= MAX_TITLE_CHARS
        and not title.isspace()
        and type(overview) is str
        and len(overview) <= MAX_OVERVIEW_CHARS
        for title, overview in zip(given["title"], given["overview"], strict=True)
    ]
    for name, check in _CHECKS.items():
        values = given[name]
        verdicts = {value: check(value) for value in {v for v in values if type(v) is str}}
        plain = [
            ok and type(value) is str and verdicts[value]
            for ok, value in zip(plain, values, strict=True)
        ]
    return plain


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
