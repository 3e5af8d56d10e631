"""A partitioned dataset scored on a Dask cluster: one task per partition file.

`score_on_cluster` sends one task per input file (a folder of CSV or Parquet partitions) to
the cluster at a scheduler's address. Each worker process loads the model once (the first
task it runs) from the models folder, which must be at the same path on every worker (a
shared file system), and `load` refuses an artifact whose sha256 is not its card's; each
task returns the version and sha256 it used, and the run fails unless they are the client's.
A task scores its partition exactly as local scoring does (`run.score_file`: same chunks,
same code), so the output is identical, and writes it whole or not at all (beside, then
renamed): when a worker dies mid-run, Dask reruns its tasks on the others and each rerun
replaces what a dead task may have left, so nothing is lost or written twice. The outputs go
to a hidden folder beside `--out`, renamed onto it when every partition is done, so an
interrupted or failed run leaves no output folder.

Dask is an optional dependency (`uv sync --group distributed`): the service image does not
carry it.
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from distributed import Client

from movie_rating.artifact import read_card
from movie_rating.errors import MovieRatingError
from movie_rating.scoring.files import PARQUET_SUFFIXES, writing_to
from movie_rating.scoring.run import Options, score_file
from movie_rating.serving.predict import ProductionPredictor

CONNECT_TIMEOUT: Final = "10s"
INPUT_SUFFIXES: Final = (".csv", *PARQUET_SUFFIXES)

# One predictor per worker process and models folder, loaded by the first task that needs it.
_PREDICTORS: dict[str, ProductionPredictor] = {}


@dataclass(frozen=True)
class PartitionResult:
    name: str
    rows: int
    invalid: int
    model_sha256: str


def partitions(source: Path) -> list[Path]:
    """The input files of a folder (CSV and Parquet, by name), or the one file given."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise MovieRatingError(f"{source.name} is neither a file nor a folder of partitions")
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in INPUT_SUFFIXES)
    if not files:
        raise MovieRatingError(f"{source.name} holds no .csv or .parquet partition")
    return files


def score_partition(models_dir: str, source: str, out: str, options: Options) -> PartitionResult:
    """Runs on a worker: its predictor (loaded once, checksum verified), one partition."""
    predictor = _PREDICTORS.get(models_dir)
    if predictor is None:
        predictor = _PREDICTORS[models_dir] = ProductionPredictor(Path(models_dir)).load()
    scored = score_file(predictor, Path(source), Path(out), options)
    sha256 = predictor.card.artifact.sha256
    return PartitionResult(Path(source).name, scored.rows, scored.invalid, sha256)


def score_on_cluster(
    scheduler: str,
    models_dir: Path,
    source: Path,
    out: Path,
    options: Options,
    timeout: str = CONNECT_TIMEOUT,
) -> list[PartitionResult]:
    """Every partition of `source` scored on the cluster into the folder `out` (which must
    not exist yet), one output file per partition, named like it (CSV stays CSV)."""
    if out.exists():
        raise MovieRatingError(f"{out.name} exists; give a new folder for the output")
    files = partitions(source)
    expected = read_card(models_dir).artifact.sha256
    with writing_to(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        with _connect(scheduler, timeout) as client:
            futures = client.map(
                score_partition,
                [str(models_dir.resolve())] * len(files),
                [str(path.resolve()) for path in files],
                [str((staging / path.name).resolve()) for path in files],
                [options] * len(files),
                pure=False,
            )
            results: list[PartitionResult] = client.gather(futures)
        wrong = sorted({r.model_sha256 for r in results} - {expected})
        if wrong:
            raise MovieRatingError(f"workers scored with another model (sha256 {wrong[0]})")
        for stray in staging.glob(".*.partial"):  # what a killed worker was writing
            stray.unlink()
        staging.chmod(0o755)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return results


def _connect(scheduler: str, timeout: str) -> Client:
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:  # ValueError: not an address
        raise MovieRatingError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
