"""File scoring at scale: `movie-rating predict --input BIG --out OUT`, end to end.

Builds a file of `--rows` movies (the test split repeated, each copy's titles suffixed so
no two rows are alike; CSV, and Parquet with `--parquet`), then runs the command in a fresh
process per measurement and records its wall time, rows/s and peak memory: the largest
process's resident memory (`ru_maxrss`), and, sampled 5 times a second, the sum over the
command's process tree (it forks workers) of resident memory (shared pages counted in each
process) and of proportional memory (PSS: shared pages divided among the processes). The
sampling reads every process's page tables (~25 ms of CPU a round for the three processes of
a 1M-row run, ~5% of a core), so the time is measured in a run of its own, unsampled, before
the sampled run (whose time is kept too, as `sampled_seconds`).
`--command` times another command line instead of this checkout's (e.g. a previous commit's
`movie-rating predict`), with `{input}`, `{out}` and `{models}` filled in, so before and
after are measured in the same run.

Usage (after `dvc repro`): `uv run python benchmarks/stream.py --rows 1000000`.
Results are merged into reports/benchmarks.json under the key "stream" (one entry per label).
"""

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from report import REPORT, merge_into_report

from movie_rating.data.schema import INPUT_FEATURES
from movie_rating.data.split import read_movies

MEASURE = """
import resource, subprocess, sys, time
import psutil
sample = sys.argv[1] == "sample"
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
tree_rss = tree_pss = 0
if not sample:
    child.wait()
while child.poll() is None:
    rss = pss = 0
    try:
        family = [psutil.Process(child.pid)]
        family += family[0].children(recursive=True)
        for process in family:
            memory = process.memory_full_info()
            rss, pss = rss + memory.rss, pss + memory.pss
    except psutil.Error:  # a process ended between the listing and the reading
        pass
    tree_rss, tree_pss = max(tree_rss, rss), max(tree_pss, pss)
    time.sleep(0.2)
seconds = time.perf_counter() - start
stderr = child.stderr.read()
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(child.returncode, seconds, peak_kb, tree_rss // 1024, tree_pss // 1024)
sys.stderr.write(stderr.decode()[-2000:])
"""


def big_file(test: Path, rows: int, folder: Path, parquet: bool) -> Path:
    movies = read_movies(test)[list(INPUT_FEATURES)]
    copies = -(-rows // len(movies))
    frames = []
    for copy in range(copies):
        frame = movies.copy()
        frame["title"] = frame["title"] + f" {copy}"
        frames.append(frame)
    big = pd.concat(frames, ignore_index=True).head(rows)
    path = folder / ("movies.parquet" if parquet else "movies.csv")
    if parquet:
        big.to_parquet(path, index=False)
    else:
        big.to_csv(path, index=False)
    return path


def run(command: list[str], sample: bool) -> list[str]:
    mode = "sample" if sample else "time"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, *command], capture_output=True, text=True, check=True
    )
    status, *figures = result.stdout.split()
    if status != "0":
        raise SystemExit(f"the command failed ({status}): {result.stderr}")
    return figures


def measure(command: list[str]) -> dict[str, float]:
    seconds, peak_kb, _, _ = run(command, sample=False)
    sampled_seconds, _, tree_rss_kb, tree_pss_kb = run(command, sample=True)
    return {
        "seconds": round(float(seconds), 2),
        "sampled_seconds": round(float(sampled_seconds), 2),
        "peak_rss_mb": round(int(peak_kb) / 1024, 1),
        "peak_tree_rss_mb": round(int(tree_rss_kb) / 1024, 1),
        "peak_tree_pss_mb": round(int(tree_pss_kb) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--test", type=Path, default=Path("data/processed/test.csv"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parquet", action="store_true", help="Parquet in and out")
    parser.add_argument("--label", default="this_checkout")
    parser.add_argument("--command", help="another command line, with {input} {out} {models}")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        source = big_file(args.test, args.rows, Path(scratch), args.parquet)
        out = Path(scratch) / ("rated.parquet" if args.parquet else "rated.csv")
        if args.command:
            fields = {"input": source, "out": out, "models": args.models_dir}
            command = shlex.split(args.command.format(**fields))
        else:
            command = [sys.executable, "-m", "movie_rating.predict"]
            command += ["--models-dir", str(args.models_dir), "--input", str(source)]
            command += ["--out", str(out)]
        result = {"rows": args.rows, "format": "parquet" if args.parquet else "csv"}
        result |= measure(command)
        result["rows_per_s"] = round(args.rows / result["seconds"])
    print(json.dumps(result, indent=2))
    previous = json.loads(REPORT.read_text()).get("stream", {}) if REPORT.exists() else {}
    merge_into_report("stream", previous | {args.label: result})


if __name__ == "__main__":
    main()
