"""Cleaning: turn raw CSV records into typed rows, repairing what can be repaired.

Every record that leaves this module is accounted for: it is either a clean row or a
quarantined one with a reason, so `records_in == clean + quarantined` always holds.
"""

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from movie_rating.data.schema import PROCESSED_COLUMNS, RAW_COLUMNS, RECORD_ID
from movie_rating.params import CleanParams

QUARANTINE_COLUMNS: tuple[str, ...] = (RECORD_ID, "reason", "detail", *RAW_COLUMNS)

# A spreadsheet rewrote the title "11-11-11" as the date 11/11/2011; no real title has that form.
_SPREADSHEET_DATE_TITLE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2})(\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INTEGER = re.compile(r"^\d+(\.0+)?$")  # "35" or a spreadsheet's "35.0"


class RecordRejected(Exception):
    """A record cannot be used; `reason` is a stable key for counting, the message a detail."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class CleaningResult:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    records_in: int
    repairs: Counter[str] = field(default_factory=Counter)

    def quality_report(self) -> dict[str, Any]:
        by_reason = Counter(self.quarantine["reason"])
        return {
            "records_in": self.records_in,
            "clean": len(self.clean),
            "quarantined": len(self.quarantine),
            "quarantined_by_reason": dict(sorted(by_reason.items())),
            "repaired_by_reason": dict(sorted(self.repairs.items())),
        }


def _parse_release_date(text: str, params: CleanParams) -> str:
    text = text.strip()
    if not _ISO_DATE.match(text):
        raise RecordRejected(
            "invalid_release_date", f"release_date {text[:40]!r} is not YYYY-MM-DD"
        )
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise RecordRejected(
            "invalid_release_date", f"release_date {text!r} is not a date"
        ) from None
    if not params.min_release_year <= parsed.year <= params.max_release_year:
        raise RecordRejected(
            "implausible_release_date",
            f"release_date {text} outside {params.min_release_year}-{params.max_release_year}",
        )
    return parsed.isoformat()


def _parse_vote_average(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordRejected(
            "invalid_vote_average", f"vote_average {text[:40]!r} is not a number"
        ) from None
    if not (math.isfinite(value) and 0.0 <= value <= 10.0):
        raise RecordRejected("invalid_vote_average", f"vote_average {value} is outside 0-10")
    return value


def _parse_vote_count(text: str) -> int:
    text = text.strip()
    if not _INTEGER.match(text):
        raise RecordRejected(
            "invalid_vote_count", f"vote_count {text[:40]!r} is not a whole number"
        )
    return int(float(text))


def _repair_title(title: str, repairs: Counter[str]) -> str:
    match = _SPREADSHEET_DATE_TITLE.match(title)
    if match:
        month, day, _, year = match.groups()
        repairs["title_converted_to_date"] += 1
        return f"{int(month):02d}-{int(day):02d}-{year}"
    return title


def clean_record(raw: dict[str, str], params: CleanParams, repairs: Counter[str]) -> dict[str, Any]:
    """Validate one raw record and return its clean row, or raise RecordRejected."""
    release_date = _parse_release_date(raw["Release_Date"], params)
    vote_average = _parse_vote_average(raw["Vote_Average"])
    vote_count = _parse_vote_count(raw["Vote_Count"])
    title = raw["Title"].strip()
    if not title:
        raise RecordRejected("missing_title", "title is empty")
    language = raw["Original_Language"].strip().lower()
    if not language.isalpha():
        raise RecordRejected(
            "invalid_original_language", f"original_language {language[:40]!r} is not a code"
        )
    if vote_count < params.min_vote_count:
        # TMDB shows 0.0 for films nobody has rated yet: a placeholder, not a rating.
        raise RecordRejected(
            "too_few_votes", f"{vote_count} votes (< {params.min_vote_count}): no real rating"
        )
    overview = raw["Overview"].strip()
    if not overview:
        repairs["missing_overview_left_empty"] += 1
    genre = raw["Genre"].strip()
    if not genre:
        repairs["missing_genre_left_empty"] += 1
    return {
        "release_date": release_date,
        "title": _repair_title(title, repairs),
        "overview": overview,
        "genre": genre,
        "original_language": language,
        "vote_count": vote_count,
        "vote_average": vote_average,
    }


def clean_movies(raw_path: Path, params: CleanParams) -> CleaningResult:
    """Read the raw CSV record by record; nothing is dropped without a quarantine entry."""
    clean_rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, Any]] = []
    repairs: Counter[str] = Counter()
    with raw_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records_in = 0
        for record_id, fields in enumerate(reader, start=1):
            records_in += 1
            raw = dict(zip(header, fields, strict=False))
            try:
                if len(fields) != len(header):
                    raise RecordRejected(
                        "wrong_field_count", f"{len(fields)} fields, expected {len(header)}"
                    )
                row = clean_record(raw, params, repairs)
            except RecordRejected as rejected:
                quarantined.append(
                    {
                        RECORD_ID: record_id,
                        "reason": rejected.reason,
                        "detail": rejected.detail,
                        **{column: raw.get(column, "") for column in RAW_COLUMNS},
                    }
                )
                continue
            clean_rows.append({RECORD_ID: record_id, **row})
    clean = pd.DataFrame(clean_rows, columns=list(PROCESSED_COLUMNS))
    quarantine = pd.DataFrame(quarantined, columns=list(QUARANTINE_COLUMNS))
    return CleaningResult(
        clean=clean, quarantine=quarantine, records_in=records_in, repairs=repairs
    )
