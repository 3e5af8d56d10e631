"""One file of movies scored into one output file, chunk by chunk (see `files`, `chunks`).

With `Options.processes` above one, chunks are rated in that many worker processes while this
one reads the next chunks and writes the rated ones, in order. The workers are forked from
this process after the model is loaded, so they share its loaded model (and its compiled
trees) instead of loading and compiling their own; each rates a chunk in one thread. Threads
in one process could not do the same: the feature steps' Python work holds the interpreter
lock, and a 2-core run used ~1.3 cores. At most two chunks a worker are in flight, so memory
stays flat. Workers are forked on Linux only (macOS's system libraries are not safe to fork);
elsewhere, and inside a Dask worker, chunks are rated in this process.

A worker keeps the memory it frees for its next chunk: rating one allocates and frees tens of
MB of buffers, which glibc's malloc gives back to the system after each chunk (its trim and
mmap thresholds), so the next chunk faults every page in again. Raising both thresholds with
`mallopt(3)` (no Python library exposes it; `ctypes` calls it) cut the workers' page faults
for 1M rows from ~320,000 to ~85,000 and their system time to ~0.7 s (from 1.4-2.7).
"""

import ctypes
import gc
import multiprocessing
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tqdm import tqdm

from movie_rating.errors import MovieRatingError
from movie_rating.scoring.chunks import Rated, check_columns, rate_chunk
from movie_rating.scoring.files import Chunk, columns_of, read_chunks, writing
from movie_rating.serving.predict import ProductionPredictor

CHUNK_ROWS: Final = 20_000
# Invalid rows reported one by one, then only counted (every one is in the output).
MAX_REPORTED: Final = 1000
# Chunks handed to the workers ahead of the one being written, per worker.
_AHEAD: Final = 2
# glibc's `mallopt` parameters, and the free memory a worker keeps (at most 32 MB may be set as
# the mmap threshold on 64-bit systems)
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
_KEPT_FREE_BYTES: Final = 512 << 20
_MMAP_THRESHOLD_BYTES: Final = 32 << 20

Rate = Callable[[Iterable[Chunk]], Iterator[Rated]]


@dataclass(frozen=True)
class Options:
    level: float | None = None  # None: the model card's default
    explain: bool = False
    chunk_rows: int = CHUNK_ROWS
    processes: int = 1  # worker processes rating chunks; 1: rated in this process


@dataclass(frozen=True)
class Scored:
    rows: int
    invalid: int

    def summary(self, out: str) -> str:
        rated = self.rows - self.invalid
        return f"{self.rows} rows: {rated} rated, {self.invalid} invalid; written to {out}"


def score_file(
    predictor: ProductionPredictor,
    source: Path,
    out: Path,
    options: Options,
    report: Callable[[str], None] | None = None,
    progress: bool = False,
) -> Scored:
    """Rate every valid row of `source` into `out` (whole, or not at all); `report` gets one
    line per invalid row (its number, line for a CSV, field and reason), up to MAX_REPORTED."""
    check_columns(columns_of(source), source.name)
    rows = invalid = 0
    bar = tqdm(unit=" rows", disable=not progress)
    with rating(predictor, options) as rate, writing(out) as writer, bar:
        for rated in rate(read_chunks(source, options.chunk_rows)):
            writer.write(rated.table)
            for number, line, message in rated.invalid:
                invalid += 1
                if report is not None and invalid <= MAX_REPORTED:
                    where = f"row {number}" + (f" (line {line})" if line is not None else "")
                    bar.clear()
                    report(f"{where}: {message}")
            rows += rated.table.num_rows
            bar.update(rated.table.num_rows)
    if report is not None and invalid > MAX_REPORTED:
        report(f"... and {invalid - MAX_REPORTED} more invalid rows")
    return Scored(rows, invalid)


@contextmanager
def rating(predictor: ProductionPredictor, options: Options) -> Iterator[Rate]:
    """A function from chunks to their rated tables, in order: in this process, or in
    `options.processes` forked workers (shut down when the block ends, however it ends)."""
    level, explain = options.level, options.explain
    if options.processes <= 1 or sys.platform != "linux":
        yield lambda chunks: (rate_chunk(predictor, chunk, level, explain) for chunk in chunks)
        return
    # The collector leaves the objects made so far (the model's) alone from here on, so their
    # pages stay shared with the workers instead of being copied when it touches them (~10%
    # faster and ~80 MB less for 1M rows, measured); a worker's initializer arguments are
    # inherited, not pickled.
    gc.freeze()
    pool = ProcessPoolExecutor(
        options.processes, multiprocessing.get_context("fork"), _start_worker, (predictor,)
    )

    def ordered(chunks: Iterable[Chunk]) -> Iterator[Rated]:
        pending: deque[Future[Rated]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_rate, chunk, level, explain))
                if len(pending) >= _AHEAD * options.processes:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool:
            raise MovieRatingError("a scoring worker process died: no output written") from None

    try:
        yield ordered
    finally:
        # on an error or an interruption, the chunks not started are dropped
        pool.shutdown(wait=True, cancel_futures=True)
        gc.unfreeze()


_worker_predictor: ProductionPredictor | None = None  # in a worker: the parent's, forked


def _start_worker(predictor: ProductionPredictor) -> None:
    global _worker_predictor
    # The parent handles Ctrl-C and SIGTERM (removing its partial output) and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    predictor.limit_threads(1)
    _worker_predictor = predictor
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Have malloc keep freed memory for reuse instead of returning it (the module docstring
    says why)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:  # a C library without it: nothing to tune
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_TRIM_THRESHOLD, _KEPT_FREE_BYTES)
    mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _rate(chunk: Chunk, level: float | None, explain: bool) -> Rated:
    if _worker_predictor is None:
        raise RuntimeError("not a scoring worker")
    return rate_chunk(_worker_predictor, chunk, level, explain)
