"""A file's rows are validated by plain checks first and by `MovieInput` only where those do
not pass: the verdict, the message and the values rated must be `MovieInput`'s on every row."""

from datetime import date
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.scoring.chunks import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, describe, validate
from movie_rating.scoring.files import Chunk
from movie_rating.serving.schemas import MovieInput


def by_movie_input(row: dict[str, Any]) -> dict[str, str] | str:
    """The row as `MovieInput` alone takes it (the pipeline's values) or its error message."""
    fields = {c: row[c] for c in REQUIRED_COLUMNS} | {c: row[c] or "" for c in OPTIONAL_COLUMNS}
    try:
        return MovieInput.model_validate(fields).as_row()
    except ValidationError as error:
        return describe(error)


def check_against_movie_input(rows: list[dict[str, Any]], types: dict[str, pa.DataType]) -> None:
    table = pa.table({c: pa.array([row[c] for row in rows], types.get(c)) for c in INPUT_FEATURES})
    got = validate(Chunk(table, 1, None, {}))
    expected = [by_movie_input(row) for row in table.to_pylist()]
    valid = [i for i, e in enumerate(expected) if isinstance(e, dict)]
    assert got.positions == valid
    assert got.errors == {i: e for i, e in enumerate(expected) if isinstance(e, str)}
    for name in INPUT_FEATURES:
        assert got.columns[name].tolist() == [expected[i][name] for i in valid]  # type: ignore[index]


def near(limit: int) -> st.SearchStrategy[int]:
    return st.integers(0, limit + 2) | st.sampled_from([limit - 1, limit, limit + 1])


SPACES = "  \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003\u3000"
titles = st.one_of(
    st.text(max_size=6),
    st.text(alphabet=SPACES, max_size=3),
    near(300).map(lambda n: "é" * n),
    st.builds(lambda a, b: a + "x" + b, st.text(SPACES, max_size=2), st.text(SPACES, max_size=2)),
)
overviews = st.one_of(st.none(), st.text(max_size=20), near(5000).map(lambda n: "a" * n))
genre_names = st.one_of(
    st.sampled_from(["Drama", " Comedy ", "", " ", "Science Fiction"]),
    near(40).map(lambda n: "g" * n),
)
genres = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.lists(genre_names, max_size=24).map(",".join),
    st.integers(19, 22).map(lambda n: ",".join(["Drama"] * n)),
    # within the genre rules but longer than the list's 840 characters, or about as long
    st.just(",".join([" " + "g" * 40 + " "] * 20)),
    near(840).map(lambda n: "," * n),
)
languages = st.one_of(
    st.text(alphabet="abcxyzABZ0_\n é", max_size=4), st.sampled_from(["en", "fra", "en\n", "zh-"])
)
dates = st.one_of(
    st.dates(date(1860, 1, 1), date(2040, 12, 31)).map(date.isoformat),
    st.sampled_from(
        [
            "1870-01-01",
            "1869-12-31",
            "2035-12-31",
            "2036-01-01",
            "2023-02-29",
            "2024-02-29",
            "2023-7-01",
            "20230701",
            "2023-07-01T00:00:00",
            "2023-07-01 ",
            "\uff12\uff10\uff12\uff13-07-01",  # full-width digits
            "2023-W01-1",
            "1690000000",
            "",
        ]
    ),
    st.text(alphabet="0123456789-T:", max_size=12),
)
rows = st.fixed_dictionaries(
    {
        "title": titles,
        "overview": overviews,
        "genre": genres,
        "original_language": languages,
        "release_date": dates,
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, min_size=1, max_size=8))
def test_text_columns_get_movie_inputs_verdicts(chunk_rows: list[dict[str, Any]]) -> None:
    check_against_movie_input(chunk_rows, {c: pa.string() for c in INPUT_FEATURES})


def test_typed_parquet_columns_get_movie_inputs_verdicts() -> None:
    good = {"title": "A", "overview": None, "genre": "Drama", "original_language": "en"}
    rows = [
        good | {"release_date": date(2001, 2, 3)},
        good | {"release_date": date(2036, 1, 1)},
        good | {"release_date": None},
        good | {"title": None, "release_date": date(1999, 1, 1)},
    ]
    check_against_movie_input(rows, {"release_date": pa.date32()})
