"""Fixtures of the feature tests."""

from typing import Any

import pytest

from movie_rating.features.text import AsciiWords


@pytest.fixture
def byte_tokenizer_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many documents each call of the byte tokenizer read."""
    calls: list[int] = []
    original = AsciiWords.ids

    def spy(self: AsciiWords, documents: list[str], lowercase: bool) -> Any:
        calls.append(len(documents))
        return original(self, documents, lowercase)

    monkeypatch.setattr(AsciiWords, "ids", spy)
    return calls
