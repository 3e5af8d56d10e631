"""Model benchmarks: fit time of every grid cell and the exported model's predict speed.

Timings vary from run to run, so they live here and in reports/benchmarks.json (untracked by
DVC), never in the pipeline's outputs. Usage: `uv run python benchmarks/bench_model.py`
(after `dvc repro`); `--skip-fit` measures only the exported model.

Every speed is also given as a ratio against the seed design (`seed_pipeline.py`: v4 +
LightGBM built the seed's way, fitted on the same train split) measured in the same run, since
the machine's absolute speed varies. One movie: `ProductionPredictor.predict_one` (p50 over
`--repeats` calls) against the seed pipeline's `predict` on a one-row DataFrame. Batch:
`predict_many` on the whole test split, the best of `--batch-repeats` calls after a warm-up (the
best, not the mean: on a shared machine the other runs measure the neighbours), against the
seed pipeline's `predict` timed the same way; `big_batch_rows_per_s` is the test split 7 times.
`serving_path` says whether the model is served on the fast path (its trees compiled;
`tree_compile_seconds`: the compile, or the read of the compiled code when `trees_cached`;
`trees_optimised`: compiled at -O1, as code for the cache is; `load_seconds`: the whole
`load`). Run with `MOVIE_RATING_CACHE_DIR=` (empty) to measure loads without the cache (-O0).

Beside the plain rating, timed the same way: one movie with its interval
(`predict_one_with_interval_p50_ms`: `score_many` + `intervals`, what /predict computes), one
movie explained (`explain_one_p50_ms`: 32 variants rated as one batch), and the test split
with intervals (`batch_with_intervals_rows_per_s`). `--skip-fit` keeps the report's previous
`fit_seconds`.
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
from report import REPORT, best_seconds, merge_into_report
from seed_pipeline import seed_pipeline

from movie_rating.artifact import read_card
from movie_rating.data.schema import INPUT_FEATURES, TARGET
from movie_rating.data.split import read_movies
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.params import load_params
from movie_rating.registry import cell_name
from movie_rating.serving.predict import ProductionPredictor
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


def one_row_p50_ms(predict: Callable[[int], object], rows: int, repeats: int) -> float:
    for index in range(min(rows, 50)):  # warm caches before timing
        predict(index)
    samples = []
    for index in range(repeats):
        start = time.perf_counter()
        predict(index % rows)
        samples.append(time.perf_counter() - start)
    return percentile_ms(samples, 50)


def predict_speed(
    params: dict, models_dir: Path, train_path: Path, test_path: Path, repeats: int, batch: int
) -> dict[str, object]:
    predictor = ProductionPredictor(models_dir)
    start = time.perf_counter()
    predictor.load()
    load_seconds = time.perf_counter() - start
    train, test = read_movies(train_path), read_movies(test_path)
    # Our batches are timed before the seed pipeline is fitted in this process: after that fit
    # they ran 10-20% slower (53k -> 41-47k rows/s on the test split, in one process), a state
    # no serving process is in; the seed's batch is timed after its fit, as a fitted pipeline's
    # would be.
    batch_seconds = best_seconds(lambda: predictor.predict_many(test), batch)
    interval_seconds = best_seconds(lambda: predictor.intervals(predictor.score_many(test)), batch)
    big = pd.concat([test] * BIG_BATCH_COPIES, ignore_index=True)
    big_seconds = best_seconds(lambda: predictor.predict_many(big), batch)
    movies = [
        MovieInput.model_validate(row) for row in test[list(INPUT_FEATURES)].to_dict("records")
    ]
    seed = seed_pipeline(params["models"]["lightgbm"], params["base"]["seed"])
    seed.fit(train, train[TARGET].to_numpy())
    one_rows = [test.iloc[[i]] for i in range(len(test))]
    # interleaved: ours, the seed's, ours again, the seed's again; the better of each pair
    ours_p50 = min(
        one_row_p50_ms(lambda i: predictor.predict_one(movies[i]), len(movies), repeats)
        for _ in range(2)
    )
    seed_p50 = min(
        one_row_p50_ms(lambda i: seed.predict(one_rows[i]), len(one_rows), repeats // 4)
        for _ in range(2)
    )
    with_interval_p50 = min(
        one_row_p50_ms(
            lambda i: predictor.intervals(predictor.score_many([movies[i]])), len(movies), repeats
        )
        for _ in range(2)
    )
    explain_p50 = min(
        one_row_p50_ms(lambda i: predictor.explain_many([movies[i]]), len(movies), repeats // 4)
        for _ in range(2)
    )
    seed_batch_seconds = best_seconds(lambda: seed.predict(test), batch)
    card = read_card(models_dir)
    forest = predictor.loaded.forest
    return {
        "model": f"{card.feature_pipeline}-{card.model_family} {card.version}",
        "serving_path": predictor.path,
        "tree_compile_seconds": round(forest.compile_seconds, 3) if forest else None,
        "trees_cached": forest.cached if forest else None,
        "trees_optimised": forest.optimised if forest else None,
        "load_seconds": round(load_seconds, 3),
        "predict_one_p50_ms": ours_p50,
        "seed_predict_one_p50_ms": seed_p50,
        "predict_one_speedup_vs_seed": round(seed_p50 / ours_p50, 1),
        "predict_one_samples": repeats,
        "predict_one_with_interval_p50_ms": with_interval_p50,
        "explain_one_p50_ms": explain_p50,
        "explain_one_extra_ms": round(explain_p50 - ours_p50, 3),
        "batch_rows": len(test),
        "batch_rows_per_s": round(len(test) / batch_seconds),
        "seed_batch_rows_per_s": round(len(test) / seed_batch_seconds),
        "batch_speedup_vs_seed": round(seed_batch_seconds / batch_seconds, 2),
        "batch_with_intervals_rows_per_s": round(len(test) / interval_seconds),
        "batch_repeats": batch,
        "big_batch_rows": len(big),
        "big_batch_rows_per_s": round(len(big) / big_seconds),
        "artifact_mb": round((models_dir / card.artifact.path).stat().st_size / 1e6, 3),
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

    params = load_params(args.params)
    results: dict[str, object] = {"cores": len(os.sched_getaffinity(0))}
    results |= predict_speed(
        params, args.models_dir, args.train, args.test, args.repeats, args.batch_repeats
    )
    print(json.dumps(results, indent=2))
    if not args.skip_fit:
        results["fit_seconds"] = fit_seconds_per_cell(params, args.train, args.features_dir)
    elif REPORT.exists():
        previous = json.loads(REPORT.read_text()).get("model", {})
        results |= {"fit_seconds": previous["fit_seconds"]} if "fit_seconds" in previous else {}
    merge_into_report("model", results)


if __name__ == "__main__":
    main()
