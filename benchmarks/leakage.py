"""Leakage check of the winner on the real data -> reports/benchmarks.json, key `leakage`.

Shuffles the target within the training split and cross-validates the winner's whole pipeline
(out-of-fold ridge scores and title target encodings included) exactly as the train stage
does. Every supervised block is cross-fitted, so with no signal left the CV R² must be about 0
(issue #6: at most 0.02); a block that saw its own rows' targets would score well above it.
The unshuffled CV R² is reported beside it as the power check. Not a DVC stage (~1-2 min).
Usage: `uv run python benchmarks/leakage.py` after `dvc repro`.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from report import merge_into_report
from sklearn.model_selection import KFold, cross_val_score

from movie_rating.data.schema import TARGET
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.params import BaseParams, TrainParams, load_params, parse_section
from movie_rating.registry import cell_name

SHUFFLE_SEEDS = (0, 1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--train", type=Path, default=Path("data/processed/train.csv"))
    parser.add_argument("--winner", type=Path, default=Path("reports/winner.json"))
    parser.add_argument(
        "--winner-hyperparameters", type=Path, default=Path("reports/winner_hyperparameters.json")
    )
    args = parser.parse_args()

    params = load_params(args.params)
    seed = parse_section(params, "base", BaseParams).seed
    folds = KFold(
        parse_section(params, "train", TrainParams).cv_folds, shuffle=True, random_state=seed
    )
    winner = json.loads(args.winner.read_text(encoding="utf-8"))
    hyperparameters = json.loads(args.winner_hyperparameters.read_text(encoding="utf-8"))
    train = pd.read_csv(args.train, dtype={"release_date": str}, keep_default_na=False)

    def cv_r2(target: np.ndarray) -> float:
        cell = full_pipeline(
            build_feature_pipeline(winner["pipeline"], params["featurize"]),
            build_model(winner["family"], hyperparameters, seed),
        )
        return float(np.mean(cross_val_score(cell, train, target, cv=folds, scoring="r2")))

    y = train[TARGET].to_numpy()
    shuffled = [cv_r2(np.random.default_rng(s).permutation(y)) for s in SHUFFLE_SEEDS]
    result = {
        "cell": cell_name(winner["pipeline"], winner["family"]),
        "cv_r2_true_target": round(cv_r2(y), 4),
        "cv_r2_shuffled_target": [round(r2, 4) for r2 in shuffled],
        "cv_r2_shuffled_max": round(max(shuffled), 4),
        "limit": 0.02,
    }
    merge_into_report("leakage", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
