"""Predict TMDB ratings with the production model, for one movie or a CSV file.

Example, one movie (prints the rating; `python -m movie_rating.predict` works the same):
    movie-rating predict --title "Oppenheimer" --overview "..." \\
        --genre "Drama, History" --original-language en --release-date 2023-07-21

A CSV with columns title, original_language, release_date and optionally overview, genre
(other columns are carried through), for example:
    movie-rating predict --csv movies.csv --out rated.csv

With --require-fast-path the command fails (status 1, saying why) unless the model is served
on the fast path (its trees compiled to native code): a batch job or a CI check can insist on
it rather than run many times slower.

Every input row is written to --out, in order, with `predicted_rating` and `error` columns.
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
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import MovieInput

EXIT_INVALID_ROWS: Final = 3
REQUIRED_COLUMNS: Final = ("title", "original_language", "release_date")
OPTIONAL_COLUMNS: Final = ("overview", "genre")


def describe(error: ValidationError) -> str:
    """`field: message` for each problem, on one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
    )


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
    print(f"{predictor.predict_one(movie):.4f}")


def predict_csv(predictor: ProductionPredictor, source: Path, out: Path) -> int:
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

    ratings = predictor.predict_many([movie for _, movie in movies]) if movies else np.empty(0)
    rated = {number: f"{rating:.4f}" for (number, _), rating in zip(movies, ratings, strict=True)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=[*header, "predicted_rating", "error"], extrasaction="ignore"
        )
        writer.writeheader()
        for number, (_, row) in enumerate(rows, start=1):
            writer.writerow(
                {**row, "predicted_rating": rated.get(number, ""), "error": errors.get(number, "")}
            )
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
    elif predict_csv(predictor, args.csv, args.out):
        sys.exit(EXIT_INVALID_ROWS)


if __name__ == "__main__":
    run_cli(main)
