"""What carries across time: each part of the winner's pipeline and settings, taken away or
changed one at a time, scored on the random split's CV and on the temporal backtest.

A variant is declared as data (`VARIANTS`, `family_variants`, `finalist_variants`):
overrides of the winner's feature parameters or hyper-parameters, feature blocks dropped or
given fewer columns, a recency weighting of the training films, or another model family.
Each is scored twice on the same data: 5-fold CV RMSE on the training split (the folds the
train stage uses: what chooses the winner), and R² on the later films at every cut year of
the backtest (all films, and those with at least `min_votes` votes). Run by
`benchmarks/ablation.py`, not by `dvc repro`: a variant costs about as much as the backtest
stage.
"""

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import TARGET, VOTE_COUNT, clip_ratings
from movie_rating.data.split import release_year
from movie_rating.evaluation.metrics import DIGITS
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.intervals.conformal import IntervalParams, with_intervals
from movie_rating.models.export import Winner
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline

ENCODE_STEP = "encode"  # the ColumnBlocks step of every feature pipeline


@dataclass(frozen=True)
class Variant:
    """One change to the winner. Empty fields keep the winner's choice."""

    name: str
    part: str  # what it changes: "text ridges", "LightGBM settings", "model family", ...
    featurize: Mapping[str, Any] = field(default_factory=dict)  # over featurize.<pipeline>
    drop_blocks: tuple[str, ...] = ()  # ColumnBlocks blocks left out
    block_columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # over the family's
    family: str | None = None  # another family, with its params.yaml `models` settings
    pipeline: str | None = None
    untuned: bool = False  # the family's params.yaml settings instead of the tuned ones
    recency_half_life: float | None = None  # years: a film's weight halves per that many
    model_seed: int | None = None  # another seed of the model alone: the noise of a rerun
    difficulty_power: float | None = None  # weigh each film by difficulty^-power (below)


@dataclass(frozen=True)
class WinnerSetup:
    """What the variants change: the winning cell and the params they are read from."""

    winner: Winner
    featurize_params: Mapping[str, Any]
    model_params: Mapping[str, Any]
    seed: int
    intervals: IntervalParams


class DifficultyWeighted(RegressorMixin, BaseEstimator):
    """`estimator` fitted with each training film weighted by its difficulty ** -`power`:
    the difficulty the prediction intervals estimate (their out-of-fold |error| model,
    `ConformalRegressor` with `intervals`' settings), so films whose ratings the intervals
    expect to be noisy count less (power 2: inverse variance)."""

    def __init__(
        self, estimator: Any, intervals: IntervalParams, power: float = 2.0, random_state: int = 0
    ) -> None:
        self.estimator = estimator
        self.intervals = intervals
        self.power = power
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> "DifficultyWeighted":
        conformal = with_intervals(self.estimator, self.intervals, self.random_state).fit(X, y)
        difficulty = conformal.sigmas(conformal.difficulty_.predict(X))
        weights = difficulty**-self.power
        self.weights_ = weights / weights.mean()
        self.estimator_ = clone(self.estimator).fit(X, y, sample_weight=self.weights_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X), dtype=np.float64)


_NO_YEAR_NUMERIC = ("release_month", "title_words", "overview_words")

VARIANTS: tuple[Variant, ...] = (
    Variant("as exported", "the winner"),
    # how far a change must move a score to be more than the model's seed
    Variant("as exported, model seed 1", "noise", model_seed=1),
    Variant("as exported, model seed 2", "noise", model_seed=2),
    Variant("without the overview ridge", "text ridges", drop_blocks=("overview",)),
    Variant("without the title ridge", "text ridges", drop_blocks=("title",)),
    Variant("without both text ridges", "text ridges", drop_blocks=("overview", "title")),
    Variant("without title prefixes", "title prefixes", featurize={"title_prefix_words": []}),
    Variant("without release keys", "release keys", featurize={"release_keys": []}),
    Variant("release year key only", "release keys", featurize={"release_keys": ["year"]}),
    Variant(
        "language x decade key only",
        "release keys",
        featurize={"release_keys": ["language_decade"]},
    ),
    Variant("without context flags", "context flags", drop_blocks=("context",)),
    Variant("without genres", "genres", drop_blocks=("genres",)),
    Variant(
        "without the release year column",
        "year-free context",
        block_columns={"numeric": _NO_YEAR_NUMERIC},
    ),
    Variant(
        "no year anywhere (no year column, period, release keys)",
        "year-free context",
        featurize={"release_keys": []},
        block_columns={"numeric": _NO_YEAR_NUMERIC, "categorical": ("original_language",)},
    ),
    Variant(
        "target encodings shrunk: prior of 20 films",
        "shrinkage",
        featurize={"target_smoothing": 20.0},
    ),
    Variant(
        "target encodings shrunk: prior of 100 films",
        "shrinkage",
        featurize={"target_smoothing": 100.0},
    ),
    Variant(
        "recent films weigh more: half-life 5 years", "recency weighting", recency_half_life=5.0
    ),
    Variant(
        "recent films weigh more: half-life 10 years", "recency weighting", recency_half_life=10.0
    ),
    Variant(
        "recent films weigh more: half-life 20 years", "recency weighting", recency_half_life=20.0
    ),
    Variant(
        "noisy films weigh less: difficulty^-1 (the intervals' model)",
        "difficulty weighting",
        difficulty_power=1.0,
    ),
    Variant(
        "noisy films weigh less: difficulty^-2 (inverse variance)",
        "difficulty weighting",
        difficulty_power=2.0,
    ),
    # the one variant whose gain over time passed the seed noise: again under the other seeds
    *(
        Variant(
            f"noisy films weigh less: difficulty^-2, model seed {seed}",
            "difficulty weighting",
            difficulty_power=2.0,
            model_seed=seed,
        )
        for seed in (1, 2)
    ),
    Variant(
        "no ridge in the leaves (linear_tree off)",
        "LightGBM settings",
        hyperparameters={"linear_tree": False},
    ),
    Variant(
        "exact split thresholds (extra_trees off)",
        "LightGBM settings",
        hyperparameters={"extra_trees": False},
    ),
    Variant("400 trees instead of 800", "LightGBM settings", hyperparameters={"n_estimators": 400}),
    Variant(
        "min_child_samples 100", "LightGBM settings", hyperparameters={"min_child_samples": 100}
    ),
)


def family_variants(families: Sequence[str], seed_design: tuple[str, str]) -> tuple[Variant, ...]:
    """Each family on the winner's pipeline with its params.yaml settings, and the seed
    design: would choosing on the backtest pick another winner than the CV?"""
    pipeline, family = seed_design
    return (
        *(
            Variant(f"{name}, params.yaml settings", "model family", family=name, untuned=True)
            for name in families
        ),
        Variant(
            f"seed design: {pipeline} + {family}",
            "model family",
            pipeline=pipeline,
            family=family,
            untuned=True,
        ),
    )


def finalist_variants(
    finalists: Mapping[str, Mapping[str, Any]], setup: WinnerSetup
) -> tuple[Variant, ...]:
    """The tune stage's other finalists (its summary: cell -> pipeline, family, tuned
    hyper-parameters), each with its tuned settings: what `evaluate.select_on: temporal`
    might choose instead of the winner."""
    return tuple(
        Variant(
            f"{cell['family']}, tuned",
            "model family",
            family=cell["family"],
            pipeline=cell["pipeline"],
            hyperparameters=cell["hyperparameters"],
        )
        for cell in finalists.values()
        if (cell["pipeline"], cell["family"]) != (setup.winner.pipeline, setup.winner.family)
    )


def _merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    merged.update(copy.deepcopy(dict(changes)))
    return merged


def build_variant(variant: Variant, setup: WinnerSetup) -> Pipeline:
    """The unfitted pipeline (features and model) of `variant`."""
    pipeline = variant.pipeline or setup.winner.pipeline
    family = variant.family or setup.winner.family
    featurize = dict(setup.featurize_params)
    featurize[pipeline] = _merged(featurize[pipeline], variant.featurize)
    features = build_feature_pipeline(pipeline, featurize)
    blocks = features.named_steps[ENCODE_STEP].blocks
    unknown = set(variant.drop_blocks) | set(variant.block_columns)
    unknown -= {name for name, _, _ in blocks}
    if unknown:
        raise ValueError(f"variant {variant.name!r}: no block {sorted(unknown)} in {pipeline}")
    kept = [
        (name, transformer, list(variant.block_columns.get(name, columns)))
        if name in variant.block_columns
        else (name, transformer, columns)
        for name, transformer, columns in blocks
        if name not in variant.drop_blocks
    ]
    features.set_params(**{f"{ENCODE_STEP}__blocks": kept})
    settings = (
        setup.model_params.get(family) or {}
        if variant.untuned or family != setup.winner.family
        else setup.winner.hyperparameters
    )
    seed = setup.seed if variant.model_seed is None else variant.model_seed
    model = build_model(family, _merged(settings, variant.hyperparameters), seed)
    if variant.difficulty_power is not None:
        model = DifficultyWeighted(model, setup.intervals, variant.difficulty_power, seed)
    return full_pipeline(features, model)


def recency_weights(years: np.ndarray, half_life: float | None) -> np.ndarray | None:
    """A film's weight halves for every `half_life` years before the latest release year;
    a film without a date weighs as the oldest one. None: every film weighs the same."""
    if half_life is None:
        return None
    known = years[~np.isnan(years)]
    latest, oldest = known.max(), known.min()
    age = latest - np.where(np.isnan(years), oldest, years)
    return np.asarray(0.5 ** (age / half_life), dtype=np.float64)


def _fit_predict(
    variant: Variant, setup: WinnerSetup, fit_on: pd.DataFrame, scored: pd.DataFrame
) -> np.ndarray:
    estimator = build_variant(variant, setup)
    weights = recency_weights(release_year(fit_on).to_numpy(dtype=float), variant.recency_half_life)
    fit_params = {} if weights is None else {"model__sample_weight": weights}
    estimator.fit(fit_on, fit_on[TARGET].to_numpy(), **fit_params)
    return clip_ratings(estimator.predict(scored))


@dataclass(frozen=True)
class AblationData:
    """The films every variant is scored on."""

    train: pd.DataFrame  # the random split's training part: the CV
    movies: pd.DataFrame  # every clean film: the backtest
    cv_folds: int
    cut_years: Sequence[int]
    min_votes: int


def score_variant(
    variant: Variant, setup: WinnerSetup, data: AblationData, n_jobs: int | None = None
) -> dict[str, Any]:
    """CV RMSE and R² on train (seeded shuffled `KFold`, as the train stage), and per cut
    year the R² and bias on all later films and R² on the rated ones, and their means."""
    folds = list(KFold(data.cv_folds, shuffle=True, random_state=setup.seed).split(data.train))
    years = release_year(data.movies).to_numpy()
    jobs = [(data.train.iloc[fit], data.train.iloc[held]) for fit, held in folds]
    jobs += [(data.movies[years < cut], data.movies[years >= cut]) for cut in data.cut_years]
    predicted = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_predict)(variant, setup, fit_on, scored) for fit_on, scored in jobs
    )
    cv_predicted, cut_predicted = predicted[: len(folds)], predicted[len(folds) :]
    row: dict[str, Any] = {"variant": variant.name, "part": variant.part}
    held_out = [data.train.iloc[held][TARGET].to_numpy() for _, held in folds]
    row["cv_rmse"] = np.mean(
        [root_mean_squared_error(a, p) for a, p in zip(held_out, cv_predicted, strict=True)]
    )
    row["cv_r2"] = np.mean([r2_score(a, p) for a, p in zip(held_out, cv_predicted, strict=True)])
    for cut, (_, scored), guess in zip(
        data.cut_years, jobs[len(folds) :], cut_predicted, strict=True
    ):
        actual = scored[TARGET].to_numpy()
        rated = scored[VOTE_COUNT].to_numpy() >= data.min_votes
        row[f"r2_{cut}"] = r2_score(actual, guess)
        row[f"r2_rated_{cut}"] = r2_score(actual[rated], guess[rated])
        row[f"bias_{cut}"] = float(np.mean(guess - actual))
    row["r2_mean"] = np.mean([row[f"r2_{cut}"] for cut in data.cut_years])
    row["r2_rated_mean"] = np.mean([row[f"r2_rated_{cut}"] for cut in data.cut_years])
    return {
        key: round(float(value), DIGITS) if isinstance(value, float) else value
        for key, value in row.items()
    }


def ablation_markdown(table: pd.DataFrame, cut: int, reference: str) -> str:
    """One row per variant: CV RMSE and the change from `reference`'s, R² at `cut` on all
    later films and on the rated, and R² averaged over every cut, with its change."""
    base = table.set_index("variant").loc[reference]
    lines = [
        f"| part | variant | CV RMSE | Δ CV RMSE | R² {cut}+ | R² {cut}+ rated "
        "| R² mean of cuts | Δ | R² rated, mean of cuts | Δ |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table.to_dict("records"):
        cells = [
            row["part"],
            row["variant"],
            f"{row['cv_rmse']:.4f}",
            f"{row['cv_rmse'] - base['cv_rmse']:+.4f}",
            f"{row[f'r2_{cut}']:.3f}",
            f"{row[f'r2_rated_{cut}']:.3f}",
            f"{row['r2_mean']:.3f}",
            f"{row['r2_mean'] - base['r2_mean']:+.3f}",
            f"{row['r2_rated_mean']:.3f}",
            f"{row['r2_rated_mean'] - base['r2_rated_mean']:+.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
