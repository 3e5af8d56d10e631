"""Random, grid and Optuna search over precomputed folds, on a small synthetic frame."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, cross_val_score

from movie_rating.errors import MovieRatingError
from movie_rating.features.folds import cv_folds
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline
from movie_rating.params import parse_section
from movie_rating.tuning import worker
from movie_rating.tuning.search import (
    Objective,
    best_trial,
    create_study,
    search,
    study_name,
)
from movie_rating.tuning.space import TuneParams
from movie_rating.tuning.tune import select_candidates

LGBM_BASE = {"n_estimators": 20, "min_child_samples": 5}


@pytest.fixture
def tune_params(repo_params):
    def make(**overrides):
        section = {**repo_params["tune"], "n_trials": 4, "cv_folds": 3, **overrides}
        return parse_section({"tune": section}, "tune", TuneParams)

    return make


@pytest.fixture
def objective(movie_factory, repo_params):
    train = movie_factory(120, seed=3)
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    folds = cv_folds(features, train, folds=3, seed=7)
    return Objective("lightgbm", LGBM_BASE, folds, seed=42), features, train


def test_precomputed_folds_score_like_full_pipeline_cv(objective):
    """Caching fold features must not change the CV number a Pipeline CV would report."""
    cached, features, train = objective
    estimator = full_pipeline(features, build_model("lightgbm", LGBM_BASE, 42))
    scores = cross_val_score(
        estimator,
        train,
        train["vote_average"].to_numpy(),
        cv=KFold(3, shuffle=True, random_state=7),
        scoring="neg_root_mean_squared_error",
    )
    assert cached.cv_rmse({}) == pytest.approx(-scores.mean(), abs=1e-12)


@pytest.mark.parametrize("method", ["random", "grid", "optuna"])
def test_each_method_returns_scored_trials_and_is_repeatable(objective, tune_params, method):
    cached, _, _ = objective
    tune = tune_params(method=method)

    def run(name):
        study = create_study(name, "sqlite:///:memory:", tune.seed) if method == "optuna" else None
        return search(cached, tune, study)

    first, second = run("a"), run("b")
    expected = 8 if method == "grid" else tune.n_trials  # repo grid: 2 x 2 x 2
    assert len(first) == expected
    assert [t.params for t in first] == [t.params for t in second]
    assert [t.cv_rmse for t in first] == [t.cv_rmse for t in second]
    best = best_trial(first)
    assert best.cv_rmse == min(t.cv_rmse for t in first if t.cv_rmse is not None)
    space = tune.grids["lightgbm"] if method == "grid" else tune.spaces["lightgbm"]
    assert set(best.params) == set(space)


def test_random_search_respects_bounds(objective, tune_params):
    cached, _, _ = objective
    tune = tune_params(method="random", n_trials=6)
    for trial in search(cached, tune):
        for name, spec in tune.spaces["lightgbm"].items():
            assert spec.low <= trial.params[name] <= spec.high
        assert isinstance(trial.params["num_leaves"], int)


def test_select_candidates_takes_best_tunable_families(tune_params):
    import pandas as pd

    cells = pd.DataFrame(
        [
            {"pipeline": "v1", "family": "random_forest", "cv_rmse_mean": 0.70},
            {"pipeline": "v2", "family": "lightgbm", "cv_rmse_mean": 0.71},
            {"pipeline": "v1", "family": "lightgbm", "cv_rmse_mean": 0.72},
            {"pipeline": "v3", "family": "xgboost", "cv_rmse_mean": 0.73},
            {"pipeline": "v1", "family": "ridge", "cv_rmse_mean": 0.74},
        ]
    )
    for column in ("cv_rmse_std", "cv_r2_mean", "test_rmse", "test_mae", "test_r2"):
        cells[column] = np.nan
    chosen = select_candidates(cells, tune_params(top_families=2))
    # random_forest has no search space; lightgbm appears once, on its best pipeline.
    assert chosen == [("v2", "lightgbm"), ("v3", "xgboost")]


def test_study_name_changes_with_config():
    assert study_name("lightgbm", "v1", {"a": 1}) == study_name("lightgbm", "v1", {"a": 1})
    assert study_name("lightgbm", "v1", {"a": 1}) != study_name("lightgbm", "v1", {"a": 2})


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        ("not a url", r"\(not a database URL\): Could not parse"),
        ("nope://x", r"nope://x: Can't load plugin"),
        # a refused connection, with the URL's password hidden
        (
            "postgresql+psycopg://tuner:s3cret@127.0.0.1:9/optuna",
            r"postgresql\+psycopg://tuner:\*\*\*@127.*refused",
        ),
    ],
)
def test_a_storage_that_cannot_be_opened_is_one_sentence(storage, reason):
    expected = f"^cannot open the Optuna storage {reason}"
    with pytest.raises(MovieRatingError, match=expected) as error:
        create_study("study", storage, seed=0)
    assert "s3cret" not in str(error.value) and "\n" not in str(error.value)


def test_the_worker_refuses_an_unknown_family_and_no_trials(tmp_path, capsys):
    args = ["--features", "f.joblib", "--train", "t.csv", "--study", "s"]
    with pytest.raises(MovieRatingError, match="no search space for --family nope; there are: "):
        worker.main([*args, "--family", "nope", "--n-trials", "1"])
    with pytest.raises(SystemExit):
        worker.main([*args, "--family", "lightgbm", "--n-trials", "0"])
    assert "--n-trials must be at least 1" in capsys.readouterr().err
