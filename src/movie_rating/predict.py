"""Predict TMDB ratings with the production model, for one movie or a CSV file.

Example, one movie (prints the rating; `python -m movie_rating.predict` works the same):
    movie-rating predict --title "Oppenheimer" --overview "..." \\
        --genre "Drama, History" --original-language en --release-date 2023-07-21

A CSV with columns title, original_language, release_date and optionally overview, genre
(other columns are carried through), for example:
    movie-rating predict --csv movies.csv --out rated.csv

Each rating comes with an interval at the model's default level (80 %) or at --level; with
--explain, how far each input field moved it from the baseline movie (see `GET /model`).

With --require-fast-path the command fails (status 1, saying why) unless the model is served
on the fast path (its trees compiled to native code): a batch job or a CI check can insist on
it rather than run many times slower.

Every input row is written to --out, in order, with `predicted_rating`, `interval_low`,
`interval_high` and `error` columns (with --explain also `explanation_baseline` and one
`contribution_<field>` per input field).
A row that fails validation gets no rating; its row number, field and message go to stderr
and to its `error` column, and it is counted in the summary. Exit status: 0 when every row
was rated, 3 when some rows were invalid (the valid ones are still rated and written), 1 for
an error that stops the run (missing model, unreadable file, missing columns).
"""

import argparse
import csv
import sys
from pathlib import Path
from typing import Final

import numpy as np
from pydantic import ValidationError

from movie_rating.cli import run_cli
from movie_rating.errors import MovieRatingError
from movie_rating.serving.explain import FIELDS
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import MAX_LEVEL, MIN_LEVEL, MovieInput

EXIT_INVALID_ROWS: Final = 3
REQUIRED_COLUMNS: Final = ("title", "original_language", "release_date")
OPTIONAL_COLUMNS: Final = ("overview", "genre")


def describe(error: ValidationError) -> str:
    """`field: message` for each problem, on one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
    )


def level_argument(text: str) -> float:
    try:
        level = float(text)
    except ValueError:
        level = float("nan")
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise argparse.ArgumentTypeError(f"must be a number from {MIN_LEVEL} to {MAX_LEVEL}")
    return level


def predict_one(predictor: ProductionPredictor, args: argparse.Namespace) -> None:
    try:
        movie = MovieInput(
            title=args.title,
            overview=args.overview,
            genre=args.genre,
            original_language=args.original_language,
            release_date=args.release_date,
        )
    except ValidationError as error:
        raise MovieRatingError(f"invalid movie: {describe(error)}") from None
    scored = predictor.score_many([movie])
    level = predictor.default_level if args.level is None else args.level
    (low, high), *_ = predictor.intervals(scored, level).tolist()
    print(f"{scored.ratings[0]:.4f}")
    print(f"{level:.0%} interval: {low:.4f} to {high:.4f}")
    if args.explain:
        explained = predictor.explain_many([movie])
        print(f"baseline movie: {explained.baseline:.4f}")
        for field, value in zip(FIELDS, explained.contributions[0].tolist(), strict=True):
            print(f"  {field}: {value:+.4f}")


def predict_csv(
    predictor: ProductionPredictor,
    source: Path,
    out: Path,
    level: float | None = None,
    explain: bool = False,
) -> int:
    """Rate every valid row of `source` into `out`; return the number of invalid rows."""
    try:
        with source.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise MovieRatingError(f"cannot read {source}: {error}") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise MovieRatingError(f"{source} lacks column(s) {missing}; it has {header}")

    movies: list[tuple[int, MovieInput]] = []
    errors: dict[int, str] = {}
    for number, (line, row) in enumerate(rows, start=1):
        fields = {c: row[c] for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in header}
        if None in row or any(value is None for value in fields.values()):
            errors[number] = "row: wrong number of fields"
        else:
            try:
                movies.append((number, MovieInput.model_validate(fields)))
            except ValidationError as error:
                errors[number] = describe(error)
        if number in errors:
            print(f"row {number} (line {line}): {errors[number]}", file=sys.stderr)

    valid = [movie for _, movie in movies]
    scored = predictor.score_many(valid)
    bounds = predictor.intervals(scored, level) if valid else np.empty((0, 2))
    columns = ["predicted_rating", "interval_low", "interval_high"]
    values = np.column_stack([scored.ratings, bounds])
    if explain:
        explained = predictor.explain_many(valid)
        columns += ["explanation_baseline", *(f"contribution_{field}" for field in FIELDS)]
        baseline = np.full((len(valid), 1), explained.baseline)
        values = np.column_stack([values, baseline, explained.contributions])
    rated = {
        number: dict(zip(columns, (f"{value:.4f}" for value in row), strict=True))
        for (number, _), row in zip(movies, values.tolist(), strict=True)
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[*header, *columns, "error"], extrasaction="ignore"
        )
        writer.writeheader()
        for number, (_, row) in enumerate(rows, start=1):
            writer.writerow({**row, **rated.get(number, {}), "error": errors.get(number, "")})
    print(
        f"{len(rows)} rows: {len(rated)} rated, {len(errors)} invalid; written to {out}",
        file=sys.stderr,
    )
    return len(errors)


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--csv", type=Path, help="input CSV of movies")
    parser.add_argument("--out", type=Path, help="output CSV (with --csv)")
    parser.add_argument("--title")
    parser.add_argument("--overview", default="")
    parser.add_argument("--genre", default="", help='comma-separated, e.g. "Drama, History"')
    parser.add_argument("--original-language", help="two- or three-letter code, e.g. en")
    parser.add_argument("--release-date", help="YYYY-MM-DD")
    parser.add_argument(
        "--level",
        type=level_argument,
        help=f"interval level, {MIN_LEVEL}-{MAX_LEVEL} (default: the model's, 0.8)",
    )
    parser.add_argument(
        "--explain", action="store_true", help="add how far each input moved the rating"
    )
    parser.add_argument(
        "--require-fast-path",
        action="store_true",
        help="fail unless the model's trees are compiled (the fast path)",
    )
    args = parser.parse_args(argv)
    if args.csv is not None and args.out is None:
        parser.error("--csv needs --out")
    if args.csv is None and args.title is None:
        parser.error("give --csv IN --out OUT, or one movie with --title and friends")

    predictor = ProductionPredictor(args.models_dir).load()
    if args.require_fast_path and predictor.path != "compiled":
        raise MovieRatingError(f"the model is not on the fast path: {predictor.path_reason}")
    if args.csv is None:
        predict_one(predictor, args)
    elif predict_csv(predictor, args.csv, args.out, args.level, args.explain):
        sys.exit(EXIT_INVALID_ROWS)


if __name__ == "__main__":
    run_cli(main)
