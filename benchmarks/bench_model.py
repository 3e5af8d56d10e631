"""Model benchmarks: fit time of every grid cell and the exported model's predict speed.

Timings vary from run to run, so they live here and in reports/benchmarks.json (untracked by
DVC), never in the pipeline's outputs. Usage: `uv run python benchmarks/bench_model.py`
(after `dvc repro`); `--skip-fit` measures only the exported model.

Batch speed is `ProductionPredictor.predict_many` on the whole test split, the best of
`--batch-repeats` timed calls after a warm-up call (the best, not the mean: on a shared
machine the other runs measure the neighbours); `pipeline.predict` on the same frame, timed
the same way, is the reference the batch path is checked against. `big_batch_rows_per_s` is
`predict_many` on the test split repeated 7 times, big enough to be split across the cores.
`compiled_trees` says whether the batch path scores a LightGBM model with its compiled trees
(`tree_compile_seconds`: the compile alone; `load_seconds`: the whole `load`, both fast paths
compiled and checked).
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from statistics import quantiles

import joblib
import pandas as pd
from lightgbm import LGBMRegressor
from report import merge_into_report
from sklearn.ensemble import VotingRegressor

from movie_rating.data.schema import TARGET
from movie_rating.data.split import read_movies
from movie_rating.models.families import build_model
from movie_rating.models.training import cell_name, full_pipeline
from movie_rating.params import load_params
from movie_rating.serving.compiled_trees import compile_lightgbm
from movie_rating.serving.predict import ProdArtifacts, ProductionPredictor
from movie_rating.serving.schemas import MovieInput

BIG_BATCH_COPIES = 7  # the test split 7 times: 13,622 rows


def fit_seconds_per_cell(params: dict, train_path: Path, features_dir: Path) -> dict[str, float]:
    train = read_movies(train_path)
    seed = params["base"]["seed"]
    timings = {}
    for pipeline in params["featurize"]["pipelines"]:
        for family in params["train"]["families"]:
            estimator = full_pipeline(
                joblib.load(features_dir / f"{pipeline}.joblib"),
                build_model(family, params["models"].get(family) or {}, seed),
            )
            start = time.perf_counter()
            estimator.fit(train, train[TARGET].to_numpy())
            timings[cell_name(pipeline, family)] = round(time.perf_counter() - start, 3)
            print(f"fit {cell_name(pipeline, family)}: {timings[cell_name(pipeline, family)]} s")
    return timings


def percentile_ms(samples: list[float], q: int) -> float:
    return round(quantiles(samples, n=100)[q - 1] * 1000, 3)


def best_seconds(call: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` timed calls, after one untimed warm-up call."""
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return min(timings)


def compiled_trees(model: object) -> dict[str, object]:
    """Whether the batch path's LightGBM model (alone or in a blend) compiles to native trees,
    and the compile time alone (`load_seconds` includes it, with its check against the booster)."""
    members = model.estimators_ if isinstance(model, VotingRegressor) else [model]
    lightgbm = [member for member in members if type(member) is LGBMRegressor]
    if not lightgbm:
        return {"compiled_trees": False}
    forest = compile_lightgbm(lightgbm[0].booster_)
    if forest is None:
        return {"compiled_trees": False}
    return {"compiled_trees": True, "tree_compile_seconds": round(forest.compile_seconds, 3)}


def predict_speed(
    models_dir: Path, test_path: Path, repeats: int, batch_repeats: int
) -> dict[str, float]:
    predictor = ProductionPredictor(ProdArtifacts(models_dir=models_dir))
    start = time.perf_counter()
    predictor.load()
    load_seconds = time.perf_counter() - start
    trees = compiled_trees(predictor.pipeline[-1])
    test = read_movies(test_path)
    movies = [
        MovieInput(
            title=row.title,
            overview=row.overview,
            genre=row.genre,
            original_language=row.original_language,
            release_date=row.release_date,
        )
        for row in test.itertuples()
    ]
    for movie in movies[:50]:  # warm caches before timing
        predictor.predict_one(movie)
    single = []
    for index in range(repeats):
        movie = movies[index % len(movies)]
        start = time.perf_counter()
        predictor.predict_one(movie)
        single.append(time.perf_counter() - start)
    batch_seconds = best_seconds(lambda: predictor.predict_many(test), batch_repeats)
    # Big batches are split across the cores; the test split alone is below that size.
    big = pd.concat([test] * BIG_BATCH_COPIES, ignore_index=True)
    big_seconds = best_seconds(lambda: predictor.predict_many(big), batch_repeats)
    pipeline_seconds = best_seconds(lambda: predictor.pipeline.predict(test), batch_repeats)
    return {
        "predict_one_p50_ms": percentile_ms(single, 50),
        "predict_one_p99_ms": percentile_ms(single, 99),
        "predict_one_samples": repeats,
        "batch_rows_per_s": round(len(test) / batch_seconds),
        "batch_path": predictor.has_batch_path,
        **trees,
        "load_seconds": round(load_seconds, 3),
        "batch_pipeline_rows_per_s": round(len(test) / pipeline_seconds),
        "batch_repeats": batch_repeats,
        "batch_rows": len(test),
        "big_batch_rows_per_s": round(len(big) / big_seconds),
        "big_batch_rows": len(big),
        "artifact_mb": round(predictor.artifact_path.stat().st_size / 1e6, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--train", type=Path, default=Path("data/processed/train.csv"))
    parser.add_argument("--test", type=Path, default=Path("data/processed/test.csv"))
    parser.add_argument("--features-dir", type=Path, default=Path("data/features"))
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--batch-repeats", type=int, default=7)
    parser.add_argument("--skip-fit", action="store_true")
    args = parser.parse_args()

    results: dict[str, object] = {"cores": len(os.sched_getaffinity(0))}
    results |= predict_speed(args.models_dir, args.test, args.repeats, args.batch_repeats)
    print(json.dumps(results, indent=2))
    if not args.skip_fit:
        results["fit_seconds"] = fit_seconds_per_cell(
            load_params(args.params), args.train, args.features_dir
        )
    merge_into_report("model", results)


if __name__ == "__main__":
    main()
