"""A weighted average of tuned families on one pipeline: scikit-learn's `VotingRegressor`.

Boosted trees of different libraries make partly different errors on these noisy ratings, so
their average can beat each of them. Each member is its family's better settings on train's
folds, params.yaml's or tuned (the choice the evaluate stage makes between those two rows).
The weights are chosen like hyper-parameters: on the search folds (`tune.cv_folds`, seeded by
`tune.seed`), from every weighting on a grid of step `tune.blend.weight_step` (single members
included, so a blend is only made when it beats them there). The blend is then scored on
train's folds and on test like any tuned cell, from its members' predictions there:
`average_members` is `VotingRegressor.predict`'s arithmetic, so the exported blend predicts
those very numbers.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import root_mean_squared_error

from movie_rating.features.folds import FoldMatrices
from movie_rating.models.families import BLEND_FAMILY, average_members
from movie_rating.models.training import CellPredictions, CellResult, score_cell
from movie_rating.tuning.tune import TunedCell


def weight_grid(members: int, step: float) -> list[tuple[float, ...]]:
    """Every weighting of `members` in multiples of `step` that sums to 1, in a fixed order."""
    steps = round(1 / step)
    if members < 1 or not np.isclose(steps * step, 1.0):
        raise ValueError(f"weight_step {step} does not divide 1")
    return [
        tuple(count / steps for count in counts)
        for counts in itertools.product(range(steps + 1), repeat=members)
        if sum(counts) == steps
    ]


@dataclass(frozen=True)
class BlendedCell:
    pipeline: str
    hyperparameters: dict[str, Any]
    search_cv_rmse: dict[str, float]  # per weighting, on the search folds
    search_cv_rmse_best_member: float  # the best single member's, on the search folds
    result: CellResult

    @property
    def search_cv_rmse_blend(self) -> float:
        return min(self.search_cv_rmse.values())

    @property
    def family(self) -> str:
        return BLEND_FAMILY

    def report(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "family": self.family,
            "method": "weights on the search folds",
            "hyperparameters": self.hyperparameters,
            "search_cv_rmse": self.search_cv_rmse,
            "metrics": self.result.metrics,
        }


def blend_members(tuned: Sequence[TunedCell]) -> list[TunedCell]:
    """The tuned cells on the pipeline of the best of them: one artifact serves one pipeline."""
    if not tuned:
        return []
    best = min(tuned, key=lambda cell: (cell.best().cv_rmse, cell.family))
    return [cell for cell in tuned if cell.pipeline == best.pipeline]


def blend_tuned(
    members: Sequence[TunedCell], matrices: FoldMatrices, test: pd.DataFrame, weight_step: float
) -> BlendedCell | None:
    """The best weighting of `members` on the search folds, scored like a tuned cell; None
    when fewer than two members, or when a single member does best on the search folds.
    Each member comes with its better settings on train's folds, tuned or not (`best`)."""
    if len(members) < 2 or len({cell.pipeline for cell in members}) != 1:
        return None
    targets = members[0].search_targets
    for cell in members[1:]:
        if not all(np.array_equal(a, b) for a, b in zip(targets, cell.search_targets, strict=True)):
            raise ValueError("blend members were searched on different folds")
    settings = [cell.best() for cell in members]
    scores = {}
    for weights in weight_grid(len(members), weight_step):
        fold_scores = [
            root_mean_squared_error(
                y, average_members([s.search_predictions[k] for s in settings], weights)
            )
            for k, y in enumerate(targets)
        ]
        scores[weights] = round(float(np.mean(fold_scores)), 6)
    # ties go to the first weighting in grid order, so the choice never depends on file order
    best = min(scores, key=lambda weights: scores[weights])
    families = [cell.family for cell in members]
    kept = [(family, s, w) for family, s, w in zip(families, settings, best, strict=True) if w > 0]
    if len(kept) < 2:
        return None
    results = [s.result.raw for _, s, _ in kept]
    kept_weights = [w for _, _, w in kept]
    predictions = CellPredictions(
        cv=[
            average_members([raw.cv[k] for raw in results], kept_weights)
            for k in range(len(matrices.cv))
        ],
        test=average_members([raw.test for raw in results], kept_weights),
    )
    return BlendedCell(
        pipeline=members[0].pipeline,
        hyperparameters={
            "members": {family: s.hyperparameters for family, s, _ in kept},
            "weights": {family: w for family, _, w in kept},
        },
        search_cv_rmse={
            _describe(families, weighting): score for weighting, score in scores.items()
        },
        search_cv_rmse_best_member=min(
            score for weighting, score in scores.items() if max(weighting) == 1.0
        ),
        result=score_cell(predictions, matrices, test),
    )


def _describe(families: Sequence[str], weights: Sequence[float]) -> str:
    """e.g. "lightgbm 0.7 + xgboost 0.3" """
    return " + ".join(
        f"{family} {weight:g}" for family, weight in zip(families, weights, strict=True)
    )
