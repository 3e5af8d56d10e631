import re
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.serving.schemas import (
    MAX_GENRE_CHARS,
    MAX_RELEASE_DATE,
    MIN_RELEASE_DATE,
    BatchRequest,
    MovieInput,
)

VALID = {
    "title": "Oppenheimer",
    "overview": "A physicist and a bomb.",
    "genre": "Drama, History",
    "original_language": "en",
    "release_date": "2023-07-21",
}


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in e["loc"]) for e in error.errors()}


def test_request_fields_are_exactly_the_model_inputs():
    """Contract: a client sends what the pipeline was trained on, nothing more or less."""
    assert set(MovieInput.model_fields) == set(INPUT_FEATURES)
    assert set(MovieInput.model_validate(VALID).as_row()) == set(INPUT_FEATURES)


def test_valid_movie_parses_iso_date_and_defaults():
    movie = MovieInput.model_validate(
        {"title": "X", "original_language": "cn", "release_date": "1999-01-02"}
    )
    assert movie.release_date == date(1999, 1, 2)
    assert movie.overview == ""
    assert movie.genre == ""
    assert movie.as_row()["release_date"] == "1999-01-02"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "   "),
        ("title", "t" * 301),
        ("title", 12),
        ("overview", "o" * 5001),
        ("overview", float("nan")),
        ("genre", ", ".join(f"G{i}" for i in range(21))),
        ("genre", "g" * 41),
        ("original_language", "EN"),
        ("original_language", "english"),
        ("original_language", "e"),
        ("original_language", "e1"),
        ("release_date", "0000-13-45"),
        ("release_date", "1869-12-31"),
        ("release_date", "2036-01-01"),
        ("release_date", "yesterday"),
        ("release_date", float("inf")),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(field, value):
    with pytest.raises(ValidationError) as caught:
        MovieInput.model_validate({**VALID, field: value})
    assert error_fields(caught.value) == {field}


def test_limits_are_inclusive():
    MovieInput.model_validate(
        {
            **VALID,
            "title": "t" * 300,
            "overview": "o" * 5000,
            "genre": ", ".join("g" * 40 for _ in range(20)),
            "release_date": "1870-01-01",
        }
    )
    MovieInput.model_validate({**VALID, "release_date": "2035-12-31"})


def test_unknown_and_missing_fields_are_rejected_by_name():
    with pytest.raises(ValidationError) as caught:
        MovieInput.model_validate({**VALID, "vote_count": 10})
    assert error_fields(caught.value) == {"vote_count"}
    missing = {k: v for k, v in VALID.items() if k != "release_date"}
    with pytest.raises(ValidationError) as caught:
        MovieInput.model_validate(missing)
    assert error_fields(caught.value) == {"release_date"}


def test_batch_needs_at_least_one_movie():
    with pytest.raises(ValidationError) as caught:
        BatchRequest.model_validate({"movies": []})
    assert error_fields(caught.value) == {"movies"}
    with pytest.raises(ValidationError) as caught:
        BatchRequest.model_validate({"movies": [VALID, {**VALID, "title": ""}]})
    assert error_fields(caught.value) == {"movies.1.title"}


def _schema_accepts(field: str, value: str) -> bool:
    pattern = MovieInput.model_json_schema()["properties"][field]["pattern"]
    return re.search(pattern, value) is not None


def _model_accepts(field: str, value: str) -> bool:
    try:
        MovieInput.model_validate({**VALID, field: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "X"),
        ("title", "  padded  "),
        ("title", "   "),
        ("title", "\t\n"),
        ("genre", ""),
        ("genre", "Drama"),
        ("genre", " Drama , History,, "),
        ("genre", ",,,"),
        ("genre", "x" * MAX_GENRE_CHARS),
        ("genre", "x" * (MAX_GENRE_CHARS + 1)),
        ("genre", f"  {'x' * MAX_GENRE_CHARS}  ,Drama"),
        ("genre", f"Drama,{'y' * (MAX_GENRE_CHARS + 1)}"),
        ("genre", "Science Fiction, TV Movie"),
        # the bounds and the days beside them: the pattern bounds the year only
        ("release_date", MIN_RELEASE_DATE.isoformat()),
        ("release_date", (MIN_RELEASE_DATE - timedelta(days=1)).isoformat()),
        ("release_date", MAX_RELEASE_DATE.isoformat()),
        ("release_date", (MAX_RELEASE_DATE + timedelta(days=1)).isoformat()),
        ("release_date", "1999-07-04"),
        ("release_date", "0001-01-01"),
        ("release_date", "9999-12-31"),
    ],
)
def test_openapi_patterns_accept_what_the_validators_accept(field, value):
    """The OpenAPI schema documents the validators' limits (non-blank title, genre lengths,
    date range), so a client following the schema sends what the API accepts."""
    assert _schema_accepts(field, value) == _model_accepts(field, value)
