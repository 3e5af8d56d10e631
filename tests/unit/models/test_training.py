"""Training one grid cell: seeded determinism, metric keys, test never used for selection."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, cross_validate

from movie_rating.data.schema import RECORD_ID, TARGET, VOTE_COUNT
from movie_rating.features.folds import fold_matrices
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import build_model
from movie_rating.models.training import full_pipeline, train_cell
from movie_rating.registry import cell_name

SMALL = {"n_estimators": 15}  # enough trees to be a real ensemble, fast on 2 cores


def _estimator(family, repo_params, seed):
    hyper = dict(repo_params["models"][family])
    if "n_estimators" in hyper:
        hyper |= SMALL
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    return full_pipeline(features, build_model(family, hyper, seed))


@pytest.fixture
def train_test(movie_factory):
    return movie_factory(80, seed=1), movie_factory(20, seed=2)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "random_forest"])
def test_same_seed_same_predictions(family, repo_params, train_test):
    # Bit-identical, predicted twice each: a threaded forest once differed in the last bits.
    train, test = train_test
    y = train[TARGET].to_numpy()
    first = _estimator(family, repo_params, seed=42).fit(train, y)
    second = _estimator(family, repo_params, seed=42).fit(train, y)
    reference = first.predict(test)
    for predicted in (first.predict(test), second.predict(test), second.predict(test)):
        np.testing.assert_array_equal(predicted, reference)


def test_seed_reaches_the_model(repo_params, train_test):
    # random_forest with max_features < 1 depends on its seed: a different seed, other trees
    train, test = train_test
    y = train[TARGET].to_numpy()
    a = _estimator("random_forest", repo_params, seed=1).fit(train, y).predict(test)
    b = _estimator("random_forest", repo_params, seed=2).fit(train, y).predict(test)
    assert not np.array_equal(a, b)


def _cell(family, repo_params, train, test, n_jobs=None):
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    matrices, _ = fold_matrices(features, train, test, folds=3, seed=0, n_jobs=n_jobs)
    model = _estimator(family, repo_params, 0).named_steps["model"]
    return train_cell(model, matrices, test, n_jobs=n_jobs)


def test_train_cell_metrics_and_predictions(repo_params, train_test):
    train, test = train_test
    result = _cell("ridge", repo_params, train, test)

    assert set(result.metrics) == {
        "cv_rmse_mean",
        "cv_rmse_std",
        "cv_r2_mean",
        "test_rmse",
        "test_mae",
        "test_r2",
    }
    assert all(isinstance(v, float) and np.isfinite(v) for v in result.metrics.values())
    assert result.metrics["cv_rmse_mean"] > 0
    predictions = result.test_predictions
    assert list(predictions.columns) == [RECORD_ID, VOTE_COUNT, "actual", "predicted"]
    assert list(predictions[RECORD_ID]) == list(test[RECORD_ID])
    assert predictions["predicted"].between(0, 10).all()
    rmse = float(np.sqrt(np.mean((predictions["actual"] - predictions["predicted"]) ** 2)))
    assert result.metrics["test_rmse"] == pytest.approx(rmse, abs=1e-5)


@pytest.mark.parametrize("family", ["ridge", "lightgbm"])
def test_cell_scores_equal_a_full_pipeline_cross_validation(family, repo_params, train_test):
    """Features fitted once per fold, shared by the families, must score exactly like the
    pipeline refitted inside scikit-learn's own CV, and like one fit on all of train."""
    train, test = train_test
    result = _cell(family, repo_params, train, test)
    y = train[TARGET].to_numpy()
    scores = cross_validate(
        _estimator(family, repo_params, 0),
        train,
        y,
        cv=KFold(3, shuffle=True, random_state=0),
        scoring=("neg_root_mean_squared_error", "r2"),
    )
    expected_rmse = -scores["test_neg_root_mean_squared_error"]
    assert result.metrics["cv_rmse_mean"] == round(float(np.mean(expected_rmse)), 6)
    assert result.metrics["cv_rmse_std"] == round(float(np.std(expected_rmse)), 6)
    assert result.metrics["cv_r2_mean"] == round(float(np.mean(scores["test_r2"])), 6)
    refit = _estimator(family, repo_params, 0).fit(train, y).predict(test)
    np.testing.assert_array_equal(
        result.test_predictions["predicted"], np.round(np.clip(refit, 0, 10), 6)
    )


def test_parallel_folds_do_not_change_a_cell(repo_params, train_test):
    train, test = train_test
    here = _cell("lightgbm", repo_params, train, test, n_jobs=None)
    in_workers = _cell("lightgbm", repo_params, train, test, n_jobs=2)
    assert here.metrics == in_workers.metrics
    assert here.test_predictions.equals(in_workers.test_predictions)


def test_cv_metrics_do_not_depend_on_the_test_split(repo_params, train_test):
    train, test = train_test
    shifted = test.assign(**{TARGET: 10.0 - test[TARGET]})
    a = _cell("ridge", repo_params, train, test).metrics
    b = _cell("ridge", repo_params, train, shifted).metrics
    for key in ("cv_rmse_mean", "cv_rmse_std", "cv_r2_mean"):
        assert a[key] == b[key]
    assert a["test_rmse"] != b["test_rmse"]


def test_matrices_of_another_test_split_are_refused(repo_params, train_test):
    train, test = train_test
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    matrices, _ = fold_matrices(features, train, test, folds=3, seed=0)
    model = build_model("ridge", repo_params["models"]["ridge"], 0)
    with pytest.raises(ValueError, match="another test split"):
        train_cell(model, matrices, test.iloc[::-1])


def test_cell_name_matches_dvc_matrix():
    assert cell_name("v4_trigrams", "lightgbm") == "v4_trigrams-lightgbm"
