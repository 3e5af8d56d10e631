"""Ablation variants: each builds the winner with exactly one change, scored on both splits."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

from movie_rating.backtest.ablation import (
    VARIANTS,
    AblationData,
    DifficultyWeighted,
    Variant,
    WinnerSetup,
    ablation_markdown,
    build_variant,
    family_variants,
    finalist_variants,
    recency_weights,
    score_variant,
)
from movie_rating.intervals.conformal import IntervalParams
from movie_rating.models.export import Winner


@pytest.fixture
def winner_setup(repo_params) -> WinnerSetup:
    hyperparameters = {"n_estimators": 20, "num_leaves": 7, "verbose": -1}
    return WinnerSetup(
        winner=Winner("v5_stacked", "lightgbm", hyperparameters, {"cv_rmse_mean": 0.8}),
        featurize_params=repo_params["featurize"],
        model_params=repo_params["models"],
        seed=0,
        intervals=IntervalParams(level=0.8, folds=3, min_difficulty=0.1),
    )


def blocks(variant: Variant, winner_setup: WinnerSetup) -> dict:
    encode = build_variant(variant, winner_setup).named_steps["features"].named_steps["encode"]
    return {name: columns for name, _, columns in encode.blocks}


def test_every_variant_builds_and_names_are_unique(winner_setup):
    variants = [*VARIANTS, *family_variants(["ridge", "lightgbm"], ("v4_trigrams", "lightgbm"))]
    assert len({variant.name for variant in variants}) == len(variants)
    for variant in variants:
        build_variant(variant, winner_setup)


def test_a_variant_changes_only_what_it_names(winner_setup):
    full = blocks(VARIANTS[0], winner_setup)
    dropped = blocks(Variant("x", "text ridges", drop_blocks=("overview",)), winner_setup)
    assert set(full) - set(dropped) == {"overview"}
    fewer = blocks(Variant("x", "y", block_columns={"numeric": ("release_month",)}), winner_setup)
    assert fewer["numeric"] == ["release_month"] and fewer["genres"] == full["genres"]
    without_keys = blocks(Variant("x", "y", featurize={"release_keys": []}), winner_setup)
    assert "release" in full and "release" not in without_keys
    with pytest.raises(ValueError, match="no block"):
        build_variant(Variant("x", "y", drop_blocks=("nonsense",)), winner_setup)


def test_settings_come_from_the_winner_unless_untuned_or_another_family(winner_setup, repo_params):
    def model(variant: Variant):
        return build_variant(variant, winner_setup).named_steps["model"].get_params()

    assert model(VARIANTS[0])["n_estimators"] == 20
    assert model(Variant("x", "y", hyperparameters={"n_estimators": 5}))["n_estimators"] == 5
    untuned = repo_params["models"]["lightgbm"]["n_estimators"]
    assert model(Variant("x", "y", untuned=True))["n_estimators"] == untuned
    forest = repo_params["models"]["random_forest"]["n_estimators"]
    assert model(Variant("x", "y", family="random_forest"))["n_estimators"] == forest


def test_the_other_finalists_keep_their_tuned_settings(winner_setup):
    finalists = {
        "v5_stacked-lightgbm": {
            "pipeline": "v5_stacked",
            "family": "lightgbm",
            "hyperparameters": {},
        },
        "v5_stacked-xgboost": {
            "pipeline": "v5_stacked",
            "family": "xgboost",
            "hyperparameters": {"max_depth": 2, "n_estimators": 7},
        },
    }
    (other,) = finalist_variants(finalists, winner_setup)  # the winner itself is not repeated
    model = build_variant(other, winner_setup).named_steps["model"]
    assert other.name == "xgboost, tuned"
    assert (model.get_params()["max_depth"], model.get_params()["n_estimators"]) == (2, 7)


def test_difficulty_weighting_uses_the_intervals_settings(winner_setup):
    variant = Variant("x", "difficulty weighting", difficulty_power=2.0)
    model = build_variant(variant, winner_setup).named_steps["model"]
    assert isinstance(model, DifficultyWeighted)
    assert (model.power, model.intervals.folds) == (2.0, 3)
    assert clone(model).get_params()["power"] == 2.0


def test_films_the_intervals_find_noisy_weigh_less():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(3000, 2))
    y = 2.0 * X[:, 1] + rng.normal(0.0, 0.1 + 2.0 * X[:, 0])  # noise grows with x0
    intervals = IntervalParams(level=0.8, folds=3, min_difficulty=0.05)
    fitted = DifficultyWeighted(LinearRegression(), intervals, power=2.0).fit(X, y)

    assert fitted.weights_.mean() == pytest.approx(1.0)
    assert spearmanr(fitted.weights_, X[:, 0]).statistic < -0.8
    flat = DifficultyWeighted(LinearRegression(), intervals, power=0.0).fit(X, y)
    np.testing.assert_allclose(flat.weights_, 1.0)
    # and the weighted fit still finds the slope
    assert abs(fitted.estimator_.coef_[1] - 2.0) < 0.1


def test_recency_weights_halve_per_half_life():
    years = np.array([2020.0, 2010.0, 2000.0, np.nan])
    assert recency_weights(years, 10.0).tolist() == [1.0, 0.5, 0.25, 0.25]
    assert recency_weights(years, None) is None


def test_scores_on_the_cv_and_every_cut(winner_setup, movie_factory):
    movies = movie_factory(240, seed=3)
    data = AblationData(
        train=movies.iloc[:200], movies=movies, cv_folds=3, cut_years=[2000, 2010], min_votes=50
    )
    weighted = Variant("weighted", "recency weighting", recency_half_life=5.0)
    rows = [score_variant(variant, winner_setup, data) for variant in (VARIANTS[0], weighted)]

    for row in rows:
        assert 0 < row["cv_rmse"] < 2
        assert set(row) >= {"r2_2000", "r2_rated_2010", "bias_2010", "r2_mean", "r2_rated_mean"}
        assert row["r2_mean"] == pytest.approx((row["r2_2000"] + row["r2_2010"]) / 2, abs=1e-5)
    assert rows[0]["cv_rmse"] != rows[1]["cv_rmse"]  # the weights reached the model
    text = ablation_markdown(pd.DataFrame(rows), 2010, VARIANTS[0].name)
    assert "| the winner | as exported |" in text and "+0.000 |" in text
