"""Error analysis of one grid cell (default: the winner, as exported) -> reports/error_analysis.md.

Out-of-fold predictions on train come from the same 5-fold split the train stage scores with;
test predictions from one fit on all of train. Not a DVC stage: it refits the cell (~1-2 min).
Usage: `uv run python benchmarks/error_analysis.py [--pipeline v5_stacked --family lightgbm]`;
without them, the pipeline, family and (tuned) hyper-parameters of `reports/winner.json`.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from movie_rating.data.cleaning import clean_movies
from movie_rating.data.schema import TARGET, clip_ratings
from movie_rating.data.split import split_train_test
from movie_rating.evaluation.error_analysis import FEW_VOTES, render_report
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.outputs import write_text
from movie_rating.params import (
    BaseParams,
    CleanParams,
    SplitParams,
    TrainParams,
    load_params,
    parse_section,
)
from movie_rating.registry import cell_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--source", type=Path, default=Path("../shared/data/movies.csv"))
    parser.add_argument("--pipeline", help="default: the winner's")
    parser.add_argument("--family", help="default: the winner's")
    parser.add_argument("--winner", type=Path, default=Path("reports/winner.json"))
    parser.add_argument(
        "--winner-hyperparameters", type=Path, default=Path("reports/winner_hyperparameters.json")
    )
    parser.add_argument("--out", type=Path, default=Path("reports/error_analysis.md"))
    args = parser.parse_args()

    params = load_params(args.params)
    hyperparameters = None
    from_winner = args.pipeline is None and args.family is None
    if from_winner:
        winner = json.loads(args.winner.read_text(encoding="utf-8"))
        args.pipeline, args.family = winner["pipeline"], winner["family"]
        hyperparameters = json.loads(args.winner_hyperparameters.read_text(encoding="utf-8"))
    elif args.pipeline is None or args.family is None:
        parser.error("give both --pipeline and --family, or neither (the winner)")
    if hyperparameters is None:
        hyperparameters = params["models"].get(args.family) or {}
    seed = parse_section(params, "base", BaseParams).seed
    folds = parse_section(params, "train", TrainParams).cv_folds
    cleaned = clean_movies(args.source, parse_section(params, "clean", CleanParams))
    train, test = split_train_test(cleaned.clean, parse_section(params, "split", SplitParams))

    def cell():
        features = build_feature_pipeline(args.pipeline, params["featurize"])
        model = build_model(args.family, hyperparameters, seed)
        return full_pipeline(features, model)

    y = train[TARGET].to_numpy()
    out_of_fold = np.empty(len(train))
    fold_rmse = []
    start = time.perf_counter()
    for fit_rows, held_out in KFold(folds, shuffle=True, random_state=seed).split(train):
        fitted = cell().fit(train.iloc[fit_rows], y[fit_rows])
        out_of_fold[held_out] = fitted.predict(train.iloc[held_out])
        fold_rmse.append(np.sqrt(np.mean((y[held_out] - out_of_fold[held_out]) ** 2)))
    cv_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fitted = cell().fit(train, y)
    fit_seconds = time.perf_counter() - start
    predicted_test = clip_ratings(fitted.predict(test))

    name = cell_name(args.pipeline, args.family)
    source = "the winner, with its exported hyper-parameters" if from_winner else "params.yaml"
    intro = (
        f"Cell `{name}` ({source}), written by `benchmarks/error_analysis.py`. "
        f"{folds}-fold CV RMSE {np.mean(fold_rmse):.4f} ± {np.std(fold_rmse):.4f} "
        "on train. `rmse_of_mean` is the RMSE of always predicting the training mean on the "
        "same movies; `bias` is mean(actual - predicted); `share_of_squared_error` is the "
        f"group's part of the total squared error; `few_votes` the share of movies with fewer "
        f"than {FEW_VOTES} votes. `vote_count` explains errors here and is never a model input."
    )
    sections = {
        "Out-of-fold predictions on train": train.assign(predicted=out_of_fold, actual=y),
        "Test split (reported only, never used to choose)": test.assign(
            predicted=predicted_test, actual=test[TARGET].to_numpy()
        ),
    }
    report = render_report(
        f"Error analysis: {name}", intro, sections, reference_mean=float(np.mean(y))
    )
    write_text(args.out, report + "\n")
    print(f"wrote {args.out}; CV {cv_seconds:.0f} s, one fit {fit_seconds:.1f} s")


if __name__ == "__main__":
    main()
