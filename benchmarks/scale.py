"""Training cost as the data grows -> reports/benchmarks.json, key `scale`.

The training split replicated 1x, 4x and 16x (each copy's titles suffixed with its number and
its ratings perturbed by seeded noise of 0.1, clipped to 0-10, so no two rows are alike),
then in one run, per scale: the winner's feature pipeline fitted on it (`fit_transform`, as
featurize does for each fold), and each family of the grid fitted once on the resulting
matrix with its params.yaml settings (a train cell is six such fits: five folds and the
final one). Wall and CPU seconds, and each as a ratio to the same step at 1x; a step that
grows linearly has ratio 4 at 4x and 16 at 16x. Linear algebra runs on one thread, as in
every stage (dvc.yaml sets OPENBLAS_NUM_THREADS=1); a step shorter than MIN_SECONDS is
repeated and its fastest run kept.

The matrix widens with the copies: a language needs `language_min_count` training films for a
column of its own, and a film's copies all count. `--fixed-width` also runs, in the same run,
each scale above 1 with every absolute count threshold of the pipeline (`*_min_count`, an
integer `min_df`) multiplied by the scale, so that it keeps the 1x columns and vocabularies
and only the rows grow (rows marked `"thresholds": "x scale"`; key `scale_fixed_width`).

`--synthetic` fits the families on seeded random numbers instead of the features (as many
columns as the 1x matrix, a fifth of them 0/1; the target a linear function of the first
columns plus noise): what scikit-learn's fits cost as the rows grow, apart from this data and
its pipeline (key `scale_synthetic`; the featurize rows are then not timed).

Usage (after `dvc repro`): `uv run python benchmarks/scale.py [--scales 1 4 16]
[--fixed-width | --synthetic]`; ~4 min on 2 cores with 16x, most of it the forest and
gradient boosting.
"""

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from report import merge_into_report
from threadpoolctl import threadpool_limits

from movie_rating.data.schema import TARGET, clip_ratings
from movie_rating.data.split import read_movies
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import build_model
from movie_rating.params import BaseParams, TrainParams, load_params, parse_section

NOISE = 0.1  # rating points added to each copy's ratings (seeded normal)
MIN_SECONDS = 1.0  # a step faster than this is timed REPEATS times, the fastest kept
REPEATS = 7


def replicate(
    frame: pd.DataFrame,
    scale: int,
    seed: int,
    title: str = "title",
    rating: str = TARGET,
    perturb: Callable[[pd.Series, np.ndarray], pd.Series] | None = None,
) -> pd.DataFrame:
    """`scale` copies of `frame`; copy k > 0 has " k" after each title and its ratings
    perturbed by seeded noise (`perturb(ratings, noise)`; default: added, clipped to 0-10)."""
    rng = np.random.default_rng(seed)
    copies = [frame]
    for copy in range(1, scale):
        part = frame.copy()
        part[title] = part[title] + f" {copy}"
        noise = rng.normal(0.0, NOISE, len(part))
        if perturb is None:
            part[rating] = clip_ratings(part[rating].to_numpy() + noise)
        else:
            part[rating] = perturb(part[rating], noise)
        copies.append(part)
    return pd.concat(copies, ignore_index=True)


def fixed_width(settings: Any, scale: int) -> Any:
    """`settings` (a pipeline's featurize params) with every absolute count threshold
    (`*_min_count`, an integer `min_df`) times `scale`."""
    if isinstance(settings, dict):
        return {
            key: value * scale
            if (key.endswith("_min_count") or key == "min_df") and type(value) is int
            else fixed_width(value, scale)
            for key, value in settings.items()
        }
    return settings


def synthetic(rows: int, columns: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random features, normal but for the last fifth of the columns (0/1), and a target
    that is the sum of the first ten plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, columns))
    binary = columns - columns // 5
    X[:, binary:] = rng.integers(0, 2, size=(rows, columns - binary))
    return X, X[:, :10].sum(axis=1) + rng.normal(size=rows)


def timed(call: Callable[..., Any], *arguments: Any) -> tuple[Any, dict[str, float]]:
    """`call(*arguments)`, and its wall and CPU seconds (fastest of REPEATS if it is quick)."""
    best = {"wall_s": float("inf"), "cpu_s": float("inf")}
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call(*arguments)
        best["wall_s"] = min(best["wall_s"], time.perf_counter() - wall)
        best["cpu_s"] = min(best["cpu_s"], time.process_time() - cpu)
        if best["wall_s"] >= MIN_SECONDS:
            break
    return result, {name: round(seconds, 4) for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--train", type=Path, default=Path("data/processed/train.csv"))
    parser.add_argument("--winner", type=Path, default=Path("reports/winner.json"))
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--fixed-width", action="store_true", help="count thresholds x scale")
    kind.add_argument("--synthetic", action="store_true", help="random data, not features")
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    families = parse_section(params, "train", TrainParams).families
    pipeline = json.loads(args.winner.read_text(encoding="utf-8"))["pipeline"]
    train = read_movies(args.train)

    threadpool_limits(limits=1)
    rows: list[dict[str, Any]] = []
    width = 0
    if args.synthetic:  # as many columns as the winner's features at 1x
        features = build_feature_pipeline(pipeline, params["featurize"])
        width = features.fit_transform(train, train[TARGET].to_numpy()).shape[1]
    for scale in args.scales:
        data = replicate(train, scale, seed)
        y = data[TARGET].to_numpy()
        variants = {"synthetic" if args.synthetic else "as set": params["featurize"]}
        if args.fixed_width and scale > 1:
            scaled = fixed_width(params["featurize"][pipeline], scale)
            variants["x scale"] = {**params["featurize"], pipeline: scaled}
        for thresholds, featurize in variants.items():
            if args.synthetic:
                matrix, y = synthetic(len(data), width, seed + scale)
            else:
                features = build_feature_pipeline(pipeline, featurize)
                matrix, cost = timed(features.fit_transform, data, y)
            size = {"scale": scale, "rows": len(data), "columns": matrix.shape[1]}
            size["thresholds"] = thresholds
            if not args.synthetic:
                rows.append({**size, "step": f"featurize {pipeline}", **cost})
                print(rows[-1], flush=True)
            for family in families:
                model = build_model(family, params["models"].get(family) or {}, seed)
                _, cost = timed(model.fit, matrix, y)
                rows.append({**size, "step": family, **cost})
                print(rows[-1], flush=True)

    table = pd.DataFrame(rows)
    base = table[table["scale"] == args.scales[0]].set_index("step")
    for column in ("wall_s", "cpu_s"):
        table[f"{column}_ratio"] = (table[column] / table["step"].map(base[column])).round(2)
    variant = "_fixed_width" if args.fixed_width else "_synthetic" if args.synthetic else ""
    merge_into_report(
        f"scale{variant}",
        {
            "pipeline": pipeline,
            "train_rows": len(train),
            "rows": table.to_dict("records"),
        },
    )
    wide = table.pivot(index="step", columns=["scale", "thresholds"], values="cpu_s_ratio")
    print(wide.loc[table["step"].unique()].to_string())


if __name__ == "__main__":
    main()
