"""Search over one family's hyper-parameters with the feature pipeline fitted once per fold.

Tuning changes only the model, so each CV fold's features (TF-IDF and all) are computed once
and every candidate is fitted on them: the same numbers a full-pipeline CV would give, at a
fraction of the cost. Candidates are drawn by scikit-learn's ParameterSampler/ParameterGrid
(the engines of RandomizedSearchCV/GridSearchCV) or by Optuna's seeded TPE sampler.
"""

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from scipy import stats
from sklearn.model_selection import ParameterGrid, ParameterSampler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from movie_rating.errors import MovieRatingError, reason
from movie_rating.features.folds import Fold
from movie_rating.models.families import build_model
from movie_rating.models.training import fit_predict_all, fold_rmse
from movie_rating.tuning.space import Choice, FloatRange, IntRange, SearchSpace, TuneParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Objective:
    """CV RMSE of `family` with `base` hyper-parameters overridden by a candidate."""

    family: str
    base: Mapping[str, Any]
    folds: list[Fold]
    seed: int
    n_jobs: int | None = None  # folds fitted in parallel; the scores do not depend on it

    def fold_predictions(self, candidate: Mapping[str, Any]) -> list[np.ndarray]:
        model = build_model(self.family, {**self.base, **candidate}, self.seed)
        return fit_predict_all(model, self.folds, self.n_jobs)

    def fold_rmse(self, candidate: Mapping[str, Any]) -> list[float]:
        return fold_rmse(self.folds, self.fold_predictions(candidate))

    def cv_rmse(self, candidate: Mapping[str, Any]) -> float:
        return float(np.mean(self.fold_rmse(candidate)))


@dataclass(frozen=True)
class Trial:
    number: int
    params: dict[str, Any]
    cv_rmse: float | None
    state: str


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so params serialise to JSON and YAML unchanged."""
    return value.item() if isinstance(value, np.generic) else value


class _LogUniformInt:
    """Integers spread evenly in log space, with the rvs() interface ParameterSampler expects."""

    def __init__(self, low: int, high: int) -> None:
        self._dist = stats.loguniform(low, high + 1)

    def rvs(self, random_state: Any = None) -> int:
        return int(self._dist.rvs(random_state=random_state))


def _scipy_distribution(spec: FloatRange | IntRange | Choice) -> Any:
    if isinstance(spec, Choice):
        return spec.choices
    if isinstance(spec, FloatRange):
        if spec.log:
            return stats.loguniform(spec.low, spec.high)
        return stats.uniform(spec.low, spec.high - spec.low)
    if spec.log:
        return _LogUniformInt(spec.low, spec.high)
    return stats.randint(spec.low, spec.high + 1)


def random_search(
    objective: Objective, space: SearchSpace, n_trials: int, seed: int
) -> list[Trial]:
    distributions = {name: _scipy_distribution(spec) for name, spec in space.items()}
    candidates = ParameterSampler(distributions, n_iter=n_trials, random_state=seed)
    return _evaluate_all(objective, candidates)


def grid_search(objective: Objective, grid: Mapping[str, list[Any]]) -> list[Trial]:
    return _evaluate_all(objective, ParameterGrid(dict(grid)))


def _evaluate_all(objective: Objective, candidates: Any) -> list[Trial]:
    trials = []
    for number, candidate in enumerate(candidates):
        params = {name: _plain(value) for name, value in sorted(candidate.items())}
        score = objective.cv_rmse(params)
        logger.info("trial %d: cv_rmse %.4f %s", number, score, params)
        trials.append(Trial(number, params, round(score, 6), "complete"))
    return trials


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, FloatRange):
            params[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, IntRange):
            params[name] = trial.suggest_int(name, spec.low, spec.high, log=spec.log)
        else:
            params[name] = trial.suggest_categorical(name, spec.choices)
    return params


def optuna_objective(objective: Objective, space: SearchSpace) -> Any:
    """Trial -> CV RMSE; reports the running mean per fold so the median pruner can stop it.

    The folds are fitted together (in parallel) and reported one by one, so the pruner sees
    and decides exactly what it would if they ran in sequence."""

    def run(trial: optuna.Trial) -> float:
        scores = []
        for step, score in enumerate(objective.fold_rmse(suggest(trial, space))):
            scores.append(score)
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return run


def create_study(name: str, storage: str, seed: int | None) -> optuna.Study:
    """The study `name` in `storage` (made if new); a storage that cannot be opened (a
    malformed URL, no driver for it, a database that refuses) is one sentence, without the
    URL's password."""
    try:
        return optuna.create_study(
            study_name=name,
            storage=storage,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
            load_if_exists=True,
        )
    except (SQLAlchemyError, ImportError) as error:
        shown = _shown(storage)
        raise MovieRatingError(f"cannot open the Optuna storage {shown}: {reason(error)}") from None


def _shown(storage: str) -> str:
    try:
        return make_url(storage).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def optuna_search(
    objective: Objective, space: SearchSpace, study: optuna.Study, n_trials: int
) -> list[Trial]:
    """Run until the study holds `n_trials` finished trials (other workers' count too)."""
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    remaining = n_trials - len(study.get_trials(deepcopy=False, states=finished))
    if remaining > 0:
        study.optimize(optuna_objective(objective, space), n_trials=remaining)
    return [
        Trial(
            number=t.number,
            params={k: _plain(v) for k, v in sorted(t.params.items())},
            cv_rmse=None if t.value is None else round(t.value, 6),
            state=t.state.name.lower(),
        )
        for t in study.get_trials(deepcopy=False, states=finished)
    ]


def study_name(family: str, pipeline: str, config: Mapping[str, Any]) -> str:
    """Same search, same data -> same study, so a rerun reuses its finished trials."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return f"{pipeline}-{family}-{digest[:12]}"


def search(
    objective: Objective, tune: TuneParams, study: optuna.Study | None = None
) -> list[Trial]:
    family = objective.family
    if tune.method == "grid":
        return grid_search(objective, tune.grids[family])
    if tune.method == "random":
        return random_search(objective, tune.spaces[family], tune.n_trials, tune.seed)
    if study is None:
        raise ValueError("optuna search needs a study")
    return optuna_search(objective, tune.spaces[family], study, tune.n_trials)


def best_trial(trials: list[Trial]) -> Trial:
    complete = [t for t in trials if t.cv_rmse is not None]
    return min(complete, key=lambda t: (t.cv_rmse, t.number))
