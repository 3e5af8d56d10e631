"""Shared fixtures: tiny synthetic movie frames, a hand-written dirty CSV, the repo's params.

Tests build their own small data here; nothing reads the real 9,837-record file except the
end-to-end DVC test, which samples it.
"""

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from movie_rating.data.schema import PROCESSED_COLUMNS, RAW_COLUMNS
from movie_rating.params import CleanParams, load_params
from movie_rating.serving.compiled_trees import CACHE_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _compiled_trees_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled forests are cached in the session's temporary directory, not the user's; the
    servers and commands the tests start inherit the variable."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_VARIABLE, str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


TITLE_WORDS = ("night", "love", "war", "city", "dark", "return", "last", "king", "dream", "house")
OVERVIEW_WORDS = (
    "detective", "murder", "family", "secret", "planet", "robot", "wedding", "village",
    "soldier", "island", "journey", "monster", "heist", "school", "revenge", "ghost",
    "friendship", "empire", "ocean", "witch", "kingdom", "mystery", "virus", "dragon",
)  # fmt: skip
GENRES = ("Action", "Comedy", "Drama", "Horror", "Science Fiction", "Romance", "Thriller")
LANGUAGES = ("en", "fr", "ja", "ko", "it")
LANGUAGE_WEIGHTS = (0.7, 0.15, 0.1, 0.03, 0.02)


def make_movies(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """A clean-split-shaped frame (PROCESSED_COLUMNS) plus the raw-only forbidden columns.

    The rating depends on genre and year so models have something to learn; popularity and
    poster_url ride along to prove the pipelines never look at them.
    """
    rng = np.random.default_rng(seed)
    years = rng.integers(1950, 2024, size=n)
    rows = []
    for i in range(n):
        genres = list(rng.choice(GENRES, size=int(rng.integers(1, 4)), replace=False))
        rating = 6.0 + 0.8 * ("Drama" in genres) - 0.9 * ("Horror" in genres)
        rating += 0.01 * (int(years[i]) - 1990) + rng.normal(0.0, 0.3)
        rows.append(
            {
                "record_id": i + 1,
                "release_date": f"{years[i]}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
                "title": " ".join(rng.choice(TITLE_WORDS, size=int(rng.integers(1, 4)))).title(),
                "overview": " ".join(rng.choice(OVERVIEW_WORDS, size=int(rng.integers(5, 12)))),
                "genre": ", ".join(genres),
                "original_language": str(rng.choice(LANGUAGES, p=LANGUAGE_WEIGHTS)),
                "vote_count": int(rng.integers(1, 5000)),
                "vote_average": round(float(np.clip(rating, 0.0, 10.0)), 1),
                "popularity": round(float(rng.uniform(0.5, 500.0)), 3),
                "poster_url": f"https://image.example/poster/{i}.jpg",
            }
        )
    frame = pd.DataFrame(rows)
    return frame.loc[:, [*PROCESSED_COLUMNS, "popularity", "poster_url"]]


@pytest.fixture
def movies() -> pd.DataFrame:
    return make_movies(60, seed=0)


@pytest.fixture
def movie_factory() -> Callable[..., pd.DataFrame]:
    return make_movies


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def repo_params() -> dict[str, Any]:
    return load_params(REPO_ROOT / "params.yaml")


@pytest.fixture
def clean_params() -> CleanParams:
    return CleanParams(min_vote_count=1, min_release_year=1870, max_release_year=2030)


# --- A hand-written dirty raw CSV, modelled on the real file's defects --------------------------

_URL = "https://image.tmdb.org/t/p/original/x.jpg"
_HEADER = ",".join(RAW_COLUMNS)

# One entry per line of the file, except record 5 whose quoted overview holds a line break.
# Record ids are 1-based positions among the CSV *records*, as the csv module reads them.
DIRTY_CSV_LINES = [
    _HEADER,
    # 1: a plain good row
    f'2021-12-15,Spider-Man,"Peter Parker is unmasked.",5083.954,8940,8.3,en,'
    f'"Action, Adventure",{_URL}',
    # 2-4: an UNQUOTED multi-line overview (as in the real file): its first line lacks the
    # numbers, the continuation lines carry text in the date column.
    "2013-10-20,Pixie Hollow Bake Off,Tink bakes a cake.  Plus 2 Mini-Shorts:,,,,,,",
    " - Just Desserts,,,,,,,,",
    f" - Magic Tricks,61.328,35,7.1,en,Animation,{_URL},,",
    # 5: a properly quoted multi-line overview: one record, kept
    '2019-10-09,Zombieland: Double Tap,"Columbus and friends move.\nThey face zombies.",'
    f'50.1,4000,7.4,en,"Comedy, Horror",{_URL}',
    # 6: impossible date
    f'2021-13-45,Bad Date,"A date that does not exist.",10.0,100,6.0,en,Drama,{_URL}',
    # 7: text where the date should be
    f'Unknown,Text Date,"No date at all.",10.0,100,6.0,en,Drama,{_URL}',
    # 8: nobody voted: the 0 rating is a placeholder
    f'2022-01-01,Nobody Voted,"Unrated film.",1.5,0,0,en,Drama,{_URL}',
    # 9: missing genre: kept, repair counted
    f'2015-05-05,No Genre,"A film with no genre.",12.0,50,6.5,fr,,{_URL}',
    # 10: a spreadsheet turned the title "11-11-11" into a date
    f'2011-11-11,11/11/2011,"Events on 11/11/11.",15.725,183,4.6,en,"Horror, Thriller",{_URL}',
    # 11: numbers without (or with a spurious) trailing .0
    f'2010-02-03,Round Numbers,"Whole numbers everywhere.",20,35.0,7,en,Comedy,{_URL}',
    # 12: too few fields
    "2020-01-01,Short Row,Only three fields",
]
DIRTY_CSV_TEXT = "\n".join(DIRTY_CSV_LINES) + "\n"


@dataclass(frozen=True)
class DirtyExpectation:
    records_in: int
    clean_ids: frozenset[int]
    quarantined: dict[int, str]  # record id -> reason
    repairs: dict[str, int]


DIRTY_EXPECTED = DirtyExpectation(
    records_in=12,
    clean_ids=frozenset({1, 5, 9, 10, 11}),
    quarantined={
        2: "invalid_vote_average",
        3: "invalid_release_date",
        4: "invalid_release_date",
        6: "invalid_release_date",
        7: "invalid_release_date",
        8: "too_few_votes",
        12: "wrong_field_count",
    },
    repairs={"missing_genre_left_empty": 1, "title_converted_to_date": 1},
)


@pytest.fixture
def dirty_csv(tmp_path: Path) -> Path:
    path = tmp_path / "dirty_movies.csv"
    path.write_text(DIRTY_CSV_TEXT, encoding="utf-8")
    # Guard the fixture itself: the csv module must see 12 records, not 13 physical lines.
    with path.open(encoding="utf-8", newline="") as handle:
        assert sum(1 for _ in csv.reader(handle)) - 1 == DIRTY_EXPECTED.records_in
    return path


@pytest.fixture
def dirty_expected() -> DirtyExpectation:
    return DIRTY_EXPECTED
