"""The tune stage's logic: pick the best families from the grid, search, rescore the winner."""

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from movie_rating.evaluation.comparison import rank_cells
from movie_rating.features.folds import FoldMatrices, cv_folds
from movie_rating.models.families import build_model
from movie_rating.models.training import CellResult, fold_rmse, train_cell
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
class ScoredSettings:
    """One family's hyper-parameters on a pipeline, scored on the search folds and, like a
    train cell, on train's folds and test."""

    hyperparameters: dict[str, Any]
    search_predictions: list[np.ndarray]  # of the search folds' held-out parts
    result: CellResult

    @property
    def cv_rmse(self) -> float:
        return float(self.result.metrics["cv_rmse_mean"])


@dataclass(frozen=True)
class TunedCell:
    pipeline: str
    family: str
    method: str
    search_cv_rmse_untuned: float
    search_cv_rmse_tuned: float
    trials: list[Trial]
    search_targets: list[np.ndarray]  # the search folds' held-out targets
    untuned: ScoredSettings  # params.yaml's settings: the grid's cell, rescored here
    tuned: ScoredSettings

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return self.tuned.hyperparameters

    @property
    def result(self) -> CellResult:
        return self.tuned.result

    def best(self) -> ScoredSettings:
        """The settings with the lower CV RMSE on train's folds (params.yaml's on a tie): the
        same comparison the evaluate stage makes between the tuned and the untuned row."""
        return min((self.untuned, self.tuned), key=lambda settings: settings.cv_rmse)

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

    def scored(candidate: dict[str, Any]) -> ScoredSettings:
        hyperparameters = {**base_hyperparameters, **candidate}
        model = build_model(family, hyperparameters, seed)
        return ScoredSettings(
            hyperparameters=hyperparameters,
            search_predictions=objective.fold_predictions(candidate),
            result=train_cell(model, matrices, test, n_jobs),
        )

    untuned = scored({})
    return TunedCell(
        pipeline=pipeline,
        family=family,
        method=tune.method,
        search_cv_rmse_untuned=round(
            float(np.mean(fold_rmse(folds, untuned.search_predictions))), 6
        ),
        search_cv_rmse_tuned=best.cv_rmse or float("nan"),
        trials=trials,
        search_targets=[fold.y_valid for fold in folds],
        untuned=untuned,
        tuned=scored(best.params),
    )
