"""The tune stage's logic: pick the best families from the grid, search, rescore the winner."""

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from movie_rating.evaluation.comparison import rank_cells
from movie_rating.features.folds import FoldMatrices, cv_folds
from movie_rating.models.families import build_model
from movie_rating.models.training import CellResult, train_cell
from movie_rating.tuning.search import (
    Objective,
    Trial,
    best_trial,
    create_study,
    search,
    study_name,
)
from movie_rating.tuning.space import TuneParams

logger = logging.getLogger(__name__)

STORAGE_ENV = "OPTUNA_STORAGE"


def resolve_storage(configured: str) -> str:
    """OPTUNA_STORAGE (e.g. a shared PostgreSQL) wins over params.yaml's local default."""
    storage = os.environ.get(STORAGE_ENV) or configured
    if storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return storage


def select_candidates(cells: pd.DataFrame, tune: TuneParams) -> list[tuple[str, str]]:
    """The `top_families` best families by CV RMSE that have a search space, each on the
    pipeline where it scored best."""
    chosen: list[tuple[str, str]] = []
    tunable = tune.tunable_families()
    for row in rank_cells(cells).itertuples():
        if row.family in tunable and row.family not in {family for _, family in chosen}:
            chosen.append((str(row.pipeline), str(row.family)))
        if len(chosen) == tune.top_families:
            break
    return chosen


@dataclass(frozen=True)
class TunedCell:
    pipeline: str
    family: str
    method: str
    hyperparameters: dict[str, Any]
    search_cv_rmse_untuned: float
    search_cv_rmse_tuned: float
    trials: list[Trial]
    result: CellResult

    def report(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "family": self.family,
            "method": self.method,
            "hyperparameters": self.hyperparameters,
            "search_cv_rmse_untuned": self.search_cv_rmse_untuned,
            "search_cv_rmse_tuned": self.search_cv_rmse_tuned,
            "metrics": self.result.metrics,
            "trials": [asdict(trial) for trial in self.trials],
        }


def tune_cell(
    *,
    pipeline: str,
    family: str,
    features: Pipeline,
    matrices: FoldMatrices,
    base_hyperparameters: Mapping[str, Any],
    train: pd.DataFrame,
    test: pd.DataFrame,
    tune: TuneParams,
    seed: int,
    study_config: Mapping[str, Any],
    n_jobs: int | None = None,
) -> TunedCell:
    """Search on folds seeded by `tune.seed`, then score the best candidate exactly like a
    train cell, on the same `matrices`, so tuned and untuned rows compare on equal terms.
    Folds are fitted `n_jobs` at a time; the results do not depend on it."""
    folds = cv_folds(features, train, tune.cv_folds, tune.seed, n_jobs)
    objective = Objective(family, dict(base_hyperparameters), folds, seed, n_jobs)
    study: optuna.Study | None = None
    if tune.method == "optuna":
        name = study_name(family, pipeline, study_config)
        study = create_study(name, resolve_storage(tune.storage), tune.seed)
        logger.info("optuna study %s", name)
    trials = search(objective, tune, study)
    best = best_trial(trials)
    hyperparameters = {**base_hyperparameters, **best.params}
    return TunedCell(
        pipeline=pipeline,
        family=family,
        method=tune.method,
        hyperparameters=hyperparameters,
        search_cv_rmse_untuned=round(objective.cv_rmse({}), 6),
        search_cv_rmse_tuned=best.cv_rmse or float("nan"),
        trials=trials,
        result=train_cell(build_model(family, hyperparameters, seed), matrices, test, n_jobs),
    )
