"""Model families, declared as data: name -> estimator class and its fixed settings.

Hyper-parameters come from params.yaml (`models.<family>`) and are passed with ``**``; what is
fixed here is what must never vary between runs: seeds, thread counts, determinism switches.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lightgbm import LGBMRegressor
from sklearn.base import RegressorMixin
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor, VotingRegressor
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from sklearn.tree import DecisionTreeRegressor
from xgboost import XGBRegressor

from movie_rating.registry import lookup


@dataclass(frozen=True)
class ModelFamily:
    estimator: type[RegressorMixin]
    seed_param: str | None = "random_state"
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def build(self, hyperparams: Mapping[str, Any], seed: int) -> RegressorMixin:
        kwargs = {**hyperparams, **self.fixed}
        if self.seed_param is not None:
            kwargs[self.seed_param] = seed
        return self.estimator(**kwargs)


MODEL_FAMILIES: Mapping[str, ModelFamily] = {
    "linear": ModelFamily(LinearRegression, seed_param=None),
    "ridge": ModelFamily(Ridge),
    "lasso": ModelFamily(Lasso),
    "elasticnet": ModelFamily(ElasticNet),
    "decision_tree": ModelFamily(DecisionTreeRegressor),
    # One thread: with n_jobs > 1, predict sums the trees in thread-completion order, so the
    # same fitted forest returns predictions that differ in the last bits from call to call.
    "random_forest": ModelFamily(RandomForestRegressor, fixed={"n_jobs": 1}),
    "gradient_boosting": ModelFamily(GradientBoostingRegressor),
    # Histogram building is single-threaded and the seed fixed so results repeat to the bit.
    # A zero is missing, as XGBoost reads the sparse matrices the features once were (it
    # learns a default branch for them); on the dense ones they are now, the same trees.
    "xgboost": ModelFamily(
        XGBRegressor, fixed={"tree_method": "hist", "n_jobs": 1, "missing": 0.0}
    ),
    "lightgbm": ModelFamily(
        LGBMRegressor,
        fixed={"deterministic": True, "force_row_wise": True, "n_jobs": 1, "verbose": -1},
    ),
}


# Not a family of the grid: a weighted average of tuned families, made by the tune stage
# (`movie_rating.tuning.blend`). Its hyper-parameters name the members and their weights.
BLEND_FAMILY = "blend"


def build_blend(hyperparams: Mapping[str, Any], seed: int) -> VotingRegressor:
    """`{"members": {family: hyper-parameters}, "weights": {family: weight}}` as one estimator:
    each member fitted on the same features, predictions averaged with the weights."""
    members: Mapping[str, Mapping[str, Any]] = hyperparams["members"]
    weights: Mapping[str, float] = hyperparams["weights"]
    if set(members) != set(weights):
        raise ValueError(f"blend weights {sorted(weights)} do not match members {sorted(members)}")
    return VotingRegressor(
        [(family, build_model(family, params, seed)) for family, params in members.items()],
        weights=[weights[family] for family in members],
    )


def average_members(
    predictions: Sequence[np.ndarray], weights: Sequence[float] | None
) -> np.ndarray:
    """`VotingRegressor.predict`'s arithmetic: members' predictions as columns, averaged with
    the weights; so a blend scored from its members' predictions gives the fitted blend's."""
    return np.average(np.asarray(predictions).T, axis=1, weights=weights)


def build_model(family: str, hyperparams: Mapping[str, Any], seed: int) -> RegressorMixin:
    if family == BLEND_FAMILY:
        return build_blend(hyperparams, seed)
    return lookup(MODEL_FAMILIES, family, "model family").build(hyperparams, seed)
