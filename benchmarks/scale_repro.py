"""The whole pipeline at N times the data: `dvc repro` timed -> reports/benchmarks.json, key
`scale_repro`.

For each scale, a fresh clone of this checkout's HEAD in a temporary folder, the raw CSV
(dvc.yaml's `paths.source`) replicated there by `scale.py`'s recipe (each copy's titles
suffixed with its number, its `Vote_Average` perturbed by seeded noise of 0.1, clipped to
0-10) with its sha256 recorded in the clone's params.yaml, and `dvc repro --force` run on it
(every stage: at 1x the data are the original, and a stage whose outputs are all in git
would otherwise be skipped as unchanged): its wall time, with scale 1 as the reference in
the same run, and the seconds each kind of stage took (from the moment dvc starts a stage to
the moment it starts the next). Copies of one film fall on both sides of the random split,
so the scores at N > 1 mean nothing; only the time does. The stages run in this environment
(this checkout's package): run it on a clean checkout.

Usage (2 cores: ~9 min at 1x, 98 min at 16x):
`uv run python benchmarks/scale_repro.py --scales 1 16`
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from report import merge_into_report
from scale import replicate

from movie_rating.params import load_params

RATING, TITLE = "Vote_Average", "Title"  # the raw file's columns
STAGE_START = re.compile(r"^Running stage '([^'@]+)")  # `train@v5-lightgbm` -> train


def replicate_raw(source: Path, scale: int, seed: int, out: Path) -> int:
    """`scale` copies of the raw CSV at `source` into `out`, as text, by `scale.replicate`
    (a rating that is not a number stays as it is). Returns the rows."""
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    data = replicate(raw, scale, seed, TITLE, RATING, _noisy_text)
    out.parent.mkdir(parents=True, exist_ok=True)
    data.to_csv(out, index=False)
    return len(data)


def _noisy_text(ratings: pd.Series, noise: np.ndarray) -> pd.Series:
    rating = pd.to_numeric(ratings, errors="coerce")
    noisy = np.clip(rating + noise, 0.0, 10.0).round(3)
    return noisy.astype(str).where(rating.notna(), ratings)


def timed_repro(clone: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """`dvc repro` in `clone`: its wall seconds and the seconds spent in each kind of stage."""
    stages: dict[str, float] = {}
    start = time.perf_counter()
    current, since = "", start
    with subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "--force"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as repro:
        assert repro.stdout is not None
        for line in repro.stdout:
            if match := STAGE_START.match(line):
                now = time.perf_counter()
                if current:
                    stages[current] = stages.get(current, 0.0) + now - since
                current, since = match[1], now
    end = time.perf_counter()
    if repro.returncode:
        raise subprocess.CalledProcessError(repro.returncode, repro.args)
    stages[current] = stages.get(current, 0.0) + end - since
    return round(end - start, 1), {name: round(value, 1) for name, value in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    variables = yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8"))["vars"]
    paths = next(
        entry["paths"] for entry in variables if isinstance(entry, dict) and "paths" in entry
    )
    source = Path(paths["source"])
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONUNBUFFERED": "1"}  # stage lines on time
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for scale in args.scales:
            clone = Path(folder) / f"x{scale}" / "repo"
            subprocess.run(["git", "clone", "--quiet", ".", str(clone)], check=True)
            raw_rows = replicate_raw(source, scale, args.seed, clone / source)
            recorded = load_params(clone / "params.yaml")["ingest"]["sha256"]
            replicated = hashlib.sha256((clone / source).read_bytes()).hexdigest()
            params = clone / "params.yaml"  # ingest checks the raw file's sha256
            params.write_text(params.read_text(encoding="utf-8").replace(recorded, replicated))
            seconds, stages = timed_repro(clone, env)
            rows.append(
                {"scale": scale, "raw_rows": raw_rows, "seconds": seconds, "stages": stages}
            )
            print(rows[-1], flush=True)
    for row in rows:
        row["ratio"] = round(row["seconds"] / rows[0]["seconds"], 2)
    merge_into_report("scale_repro", {"rows": rows})


if __name__ == "__main__":
    main()
