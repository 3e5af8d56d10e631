"""Model families, declared as data: name -> estimator class and its fixed settings.

Hyper-parameters come from params.yaml (`models.<family>`) and are passed with ``**``; what is
fixed here is what must never vary between runs: seeds, thread counts, determinism switches.
A name the estimator does not take is refused, with the closest ones it does. LightGBM and
XGBoost accept any keyword and hand it to their core library, and LightGBM ignores one it does
not know (its warning is off here, `verbose=-1`): `dvc exp run -S models.lightgbm.num_leavez=63`
would have rerun the baseline under a new name. XGBoost takes its scikit-learn names. The
scikit-learn families' values are checked too (`alpha=-1`), by scikit-learn's own constraints
(`_validate_params`, the private method their `fit` calls first). LightGBM and XGBoost check
theirs only in their core library, when a model is fitted, and no call of theirs checks them
without data: a copy of the model with one tree is fitted on two rows (a few ms), so that
`num_leaves=1` is refused in the library's words before any feature is built.
"""

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import xgboost
from lightgbm import LGBMRegressor
from lightgbm.basic import LightGBMError, _ConfigAliases
from sklearn.base import RegressorMixin, clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor, VotingRegressor
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from sklearn.tree import DecisionTreeRegressor
from xgboost import XGBRegressor
from xgboost.core import XGBoostError

from movie_rating.errors import MovieRatingError, reason
from movie_rating.registry import lookup


def lightgbm_parameters() -> Iterable[str]:
    """Every parameter LightGBM's core reads, under each of its names (`min_child_samples` is
    `min_data_in_leaf`'s alias). The list is LightGBM's own (its C API's parameter table, which
    its Python package reads through `_ConfigAliases`: no public function returns it)."""
    return (name for names in _ConfigAliases._get_all_param_aliases().values() for name in names)


@dataclass(frozen=True)
class ModelFamily:
    estimator: type[RegressorMixin]
    seed_param: str | None = "random_state"
    fixed: Mapping[str, Any] = field(default_factory=dict)
    # names the estimator passes to its library's core beyond its constructor's own
    core_parameters: Callable[[], Iterable[str]] | None = None
    # the error its core library raises, at fit, for a value it refuses
    core_error: type[Exception] | None = None

    @cached_property
    def parameters(self) -> frozenset[str]:
        """The names the estimator takes: its constructor's, and its core library's."""
        core = self.core_parameters() if self.core_parameters is not None else ()
        return frozenset({*self.estimator().get_params(), *core})

    def build(self, hyperparams: Mapping[str, Any], seed: int) -> RegressorMixin:
        known = self.parameters
        unknown = sorted(set(hyperparams) - known)
        if unknown:
            name = self.estimator.__name__
            close = {n: difflib.get_close_matches(n, known, n=1) for n in unknown}
            hints = [f"{n} (did you mean {close[n][0]}?)" if close[n] else n for n in unknown]
            raise MovieRatingError(f"{name} takes no hyper-parameter {', '.join(hints)}")
        kwargs = {**hyperparams, **self.fixed}
        if self.seed_param is not None:
            kwargs[self.seed_param] = seed
        estimator = self.estimator(**kwargs)
        if hasattr(estimator, "_parameter_constraints"):
            # scikit-learn's own check of the values, which `fit` would make after the
            # features were built, ending the stage with a traceback
            try:
                estimator._validate_params()
            except ValueError as error:
                raise MovieRatingError(str(error)) from error
        if self.core_error is not None:
            try:
                # (XGBoost reads the labels on all cores by default: ~35 ms for two rows)
                with xgboost.config_context(nthread=1):
                    clone(estimator).set_params(n_estimators=1).fit(_TWO_ROWS, _TWO_RATINGS)
            except self.core_error as error:
                name = self.estimator.__name__
                raise MovieRatingError(f"{name}: {_core_message(error)}") from error
        return estimator


_TWO_ROWS = np.array([[0.0], [1.0]])
_TWO_RATINGS = np.array([5.0, 6.0])


def _core_message(error: Exception) -> str:
    """A core library's message (its first line: not the description of the parameter that
    XGBoost adds below) without the source file LightGBM appends ("... at
    /path/config_auto.cpp, line 352 .")."""
    return re.sub(r"\s+at \S+, line \d+\s*\.?$", "", reason(error))


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
        XGBRegressor,
        fixed={"tree_method": "hist", "n_jobs": 1, "missing": 0.0},
        core_error=XGBoostError,
    ),
    "lightgbm": ModelFamily(
        LGBMRegressor,
        fixed={"deterministic": True, "force_row_wise": True, "n_jobs": 1, "verbose": -1},
        core_parameters=lightgbm_parameters,
        core_error=LightGBMError,
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
