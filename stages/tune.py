"""Stage tune: search hyper-parameters of the best families (random | grid | optuna)."""

import argparse
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from movie_rating.cli import run_cli
from movie_rating.data.ingest import sha256_of
from movie_rating.data.split import read_movies, write_movies
from movie_rating.evaluation.comparison import TEMPORAL_METRIC, load_cell_metrics
from movie_rating.evaluation.metrics import write_metrics
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.outputs import write_json
from movie_rating.params import BaseParams, TrainParams, load_params, parse_section
from movie_rating.registry import cell_name
from movie_rating.tuning.blend import blend_members, blend_tuned
from movie_rating.tuning.space import TuneParams
from movie_rating.tuning.temporal import temporal_rmse
from movie_rating.tuning.tune import select_candidates, tune_cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--metrics-dir", type=Path, required=True)
    parser.add_argument("--features-dir", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True, help="reports, one per tuned cell")
    parser.add_argument("--predictions-dir", type=Path, required=True)
    parser.add_argument("--tuned-metrics-dir", type=Path, required=True, help="metrics, per cell")
    parser.add_argument(
        "--history", type=Path, required=True, help="CSV: search CV RMSE of every trial, per cell"
    )
    parser.add_argument(
        "--jobs", type=int, default=-1, help="folds fitted in parallel (-1: one per core)"
    )
    args = parser.parse_args()

    params = load_params(args.params)
    tune = parse_section(params, "tune", TuneParams)  # fails on a bad space before any fit
    seed = parse_section(params, "base", BaseParams).seed
    train_params = parse_section(params, "train", TrainParams)
    cells = load_cell_metrics(
        args.metrics_dir, params["featurize"]["pipelines"], train_params.families
    )
    train, test = read_movies(args.train), read_movies(args.test)

    summary: dict[str, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []  # one row per finished trial: the DVC plot tuning_history

    def write_cell(
        report: dict[str, Any], search_history: list[float], metrics: dict[str, float]
    ) -> None:
        name = cell_name(report["pipeline"], report["family"])
        write_json(args.out_dir / f"{name}.json", report)
        history.extend(
            {"cell": name, "trial": trial, "search_cv_rmse": round(score, 6)}
            for trial, score in enumerate(search_history)
        )
        write_metrics(args.tuned_metrics_dir / name, metrics)
        write_movies(test_predictions[name], args.predictions_dir / f"{name}.csv")
        kept = ("pipeline", "family", "hyperparameters", TEMPORAL_METRIC)
        summary[name] = {key: report[key] for key in kept if key in report}
        summary[name] |= metrics

    test_predictions: dict[str, pd.DataFrame] = {}
    tuned_cells = []
    for pipeline, family in select_candidates(cells, tune):
        features = joblib.load(args.features_dir / f"{pipeline}.joblib")
        tuned = tune_cell(
            pipeline=pipeline,
            family=family,
            features=features,
            matrices=joblib.load(args.features_dir / f"{pipeline}.matrices.joblib"),
            base_hyperparameters=params["models"].get(family) or {},
            train=train,
            test=test,
            tune=tune,
            seed=seed,
            study_config={
                "tune": tune.model_dump(include={"method", "n_trials", "cv_folds", "seed"}),
                "space": tune.model_dump()["spaces"].get(family),
                "base": params["models"].get(family),
                "features": params["featurize"][pipeline],
                "train_sha256": sha256_of(args.train),
            },
            n_jobs=args.jobs,
        )
        tuned_cells.append(tuned)
        test_predictions[cell_name(pipeline, family)] = tuned.result.test_predictions
        over_time = temporal_rmse(
            full_pipeline(features, build_model(family, tuned.hyperparameters, seed)),
            train,
            tune.temporal_cut_years,
            n_jobs=args.jobs,
        )
        write_cell(
            tuned.report() | {TEMPORAL_METRIC: over_time},
            [trial.cv_rmse for trial in tuned.trials if trial.cv_rmse is not None],
            {
                "search_cv_rmse_untuned": tuned.search_cv_rmse_untuned,
                "search_cv_rmse_tuned": tuned.search_cv_rmse_tuned,
                **tuned.result.metrics,
            },
        )

    members = blend_members(tuned_cells)
    if tune.blend is not None and len(members) > 1:
        pipeline = members[0].pipeline
        blend = blend_tuned(
            members,
            joblib.load(args.features_dir / f"{pipeline}.matrices.joblib"),
            test,
            tune.blend.weight_step,
        )
        if blend is not None:
            test_predictions[cell_name(pipeline, blend.family)] = blend.result.test_predictions
            write_cell(
                blend.report(),
                [],
                {
                    # for a blend: its best single member, and the best weighting
                    "search_cv_rmse_untuned": blend.search_cv_rmse_best_member,
                    "search_cv_rmse_tuned": blend.search_cv_rmse_blend,
                    **blend.result.metrics,
                },
            )
    write_json(args.out_dir / "summary.json", summary)
    write_movies(pd.DataFrame(history, columns=["cell", "trial", "search_cv_rmse"]), args.history)


if __name__ == "__main__":
    run_cli(main)
