"""Predict TMDB ratings with the production model, for one movie or a file of movies.

Example, one movie (prints the rating; `python -m movie_rating.predict` works the same):
    movie-rating predict --title "Oppenheimer" --overview "..." \\
        --genre "Drama, History" --original-language en --release-date 2023-07-21

A CSV or Parquet file with columns title, original_language, release_date and optionally
overview, genre (other columns are carried through), to CSV or Parquet (by the suffix):
    movie-rating predict --input movies.csv --out rated.csv
    movie-rating predict --input movies.parquet --out rated.parquet --explain

On a Dask cluster (the `distributed` dependency group), a folder of CSV or Parquet partitions
into a folder of rated partitions, one task per file, given the scheduler's address:
    movie-rating predict --input parts/ --out rated/ --scheduler tcp://10.0.0.5:8786

The file is read, rated and written in chunks (--chunk-rows), so memory stays flat whatever
its size, and the chunks are rated in one process per core (--processes); the output is
written beside and renamed when complete, so an interrupted or failed run leaves no output
file. A progress bar shows on a terminal.

Each rating comes with an interval at the model's default level (80 %) or at --level; with
--explain, how far each input field moved it from the baseline movie (see `GET /model`).

With --require-fast-path the command fails (status 1, saying why) unless the model is served
on the fast path (its trees compiled to native code): a batch job or a CI check can insist on
it rather than run many times slower.

Every input row is written to --out, in order, with `predicted_rating`, `interval_low`,
`interval_high` and `error` columns (with --explain also `explanation_baseline` and one
`contribution_<field>` per input field). A row that fails validation gets no rating; its row
number, field and message go to stderr and to its `error` column, and it is counted in the
summary. Exit status: 0 when every row was rated, 3 when some rows were invalid (the valid ones
are still rated and written), 1 for an error that stops the run (missing model, unreadable
file, missing columns), 130 when interrupted.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from movie_rating.cli import command_parser, run_cli
from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.errors import MovieRatingError
from movie_rating.scoring.chunks import describe
from movie_rating.scoring.run import CHUNK_ROWS, Options, score_file
from movie_rating.serving.explain import FIELDS
from movie_rating.serving.predict import ProductionPredictor
from movie_rating.serving.schemas import MAX_LEVEL, MIN_LEVEL, MovieInput

EXIT_INVALID_ROWS: Final = 3
EXIT_INTERRUPTED: Final = 130


def level_argument(text: str) -> float:
    try:
        level = float(text)
    except ValueError:
        level = float("nan")
    if not MIN_LEVEL <= level <= MAX_LEVEL:
        raise argparse.ArgumentTypeError(f"must be a number from {MIN_LEVEL} to {MAX_LEVEL}")
    return level


def movie_argument(args: argparse.Namespace) -> MovieInput:
    """The movie given by --title and friends, validated as the API validates one."""
    try:
        return MovieInput(
            title=args.title,
            overview=args.overview,
            genre=args.genre,
            original_language=args.original_language,
            release_date=args.release_date,
        )
    except ValidationError as error:
        raise MovieRatingError(f"invalid movie: {describe(error)}") from None


def predict_one(
    predictor: ProductionPredictor, movie: MovieInput, args: argparse.Namespace
) -> None:
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


def load_predictor(models_dir: Path, verbose: bool) -> ProductionPredictor:
    """The verified model; its loading logged (trees compiled, model loaded) only if
    `verbose`: a command's stderr is for its errors and summary."""
    package = logging.getLogger("movie_rating")
    level = package.level
    if not verbose:
        package.setLevel(logging.WARNING)
    try:
        return ProductionPredictor(models_dir).load()
    finally:
        package.setLevel(level)


def print_invalid(message: str) -> None:
    print(message, file=sys.stderr)


def on_cluster(args: argparse.Namespace) -> None:
    # Deferred: Dask is an optional dependency group, not in the service image.
    from movie_rating.scoring.cluster import score_on_cluster

    options = Options(args.level, args.explain, args.chunk_rows)
    results = score_on_cluster(args.scheduler, args.models_dir, args.input, args.out, options)
    rows, invalid = sum(r.rows for r in results), sum(r.invalid for r in results)
    print(
        f"{len(results)} partitions, {rows} rows: {rows - invalid} rated, {invalid} invalid "
        f"(see their `error` column); written to {args.out.name}/",
        file=sys.stderr,
    )
    if invalid:
        sys.exit(EXIT_INVALID_ROWS)


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = command_parser(prog, __doc__)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument(
        "--input", "--csv", dest="input", type=Path, help="input CSV or Parquet file of movies"
    )
    parser.add_argument("--out", type=Path, help="output CSV or Parquet file (with --input)")
    parser.add_argument(
        "--chunk-rows", type=int, default=CHUNK_ROWS, help="rows read and rated at a time"
    )
    parser.add_argument(
        "--processes",
        type=int,
        help="processes rating chunks, with --input (default: one per core)",
    )
    parser.add_argument(
        "--scheduler", help="Dask scheduler address: --input and --out are then folders"
    )
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
    parser.add_argument(
        "--verbose", action="store_true", help="log the model's loading (to stderr)"
    )
    args = parser.parse_args(argv)
    if args.input is not None and args.out is None:
        parser.error("--input needs --out")
    if args.input is None and args.title is None:
        parser.error("give --input IN --out OUT, or one movie with --title and friends")
    if args.out is not None and args.input is None:
        parser.error("--out needs --input")
    one_movie = [f"--{name.replace('_', '-')}" for name in INPUT_FEATURES if getattr(args, name)]
    if args.input is not None and one_movie:
        parser.error(f"--input rates a file, {' '.join(one_movie)} one movie: give one, not both")
    if args.chunk_rows < 1:
        parser.error("--chunk-rows must be at least 1")
    if args.processes is not None and args.processes < 1:
        parser.error("--processes must be at least 1")
    if args.scheduler is not None:
        if args.input is None:
            parser.error("--scheduler needs --input and --out")
        on_cluster(args)
        return
    if args.out is not None and args.out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        parser.error("--out must end in .csv or .parquet")

    # (a bad movie is refused before the model's seconds of loading)
    movie = movie_argument(args) if args.input is None else None
    predictor = load_predictor(args.models_dir, args.verbose)
    if args.require_fast_path and predictor.path != "compiled":
        raise MovieRatingError(f"the model is not on the fast path: {predictor.path_reason}")
    if movie is not None:
        predict_one(predictor, movie, args)
        return
    try:
        scored = score_file(
            predictor,
            args.input,
            args.out,
            Options(args.level, args.explain, args.chunk_rows, args.processes or predictor.cores),
            report=print_invalid,
            progress=sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        print("interrupted: no output written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    print(scored.summary(args.out.name), file=sys.stderr)
    if scored.invalid:
        sys.exit(EXIT_INVALID_ROWS)


if __name__ == "__main__":
    run_cli(main)
