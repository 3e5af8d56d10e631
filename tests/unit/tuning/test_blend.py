"""Blends of tuned families: weights chosen on the search folds, scored like any cell, and
exported as a VotingRegressor that predicts exactly what the blend was scored on."""

import dataclasses

import numpy as np
import pytest
from sklearn.ensemble import VotingRegressor

from movie_rating.features.folds import fold_matrices
from movie_rating.features.pipelines import build_feature_pipeline
from movie_rating.models.families import BLEND_FAMILY, build_model
from movie_rating.models.training import predict_cell, score_cell
from movie_rating.tuning.blend import blend_members, blend_tuned, weight_grid
from movie_rating.tuning.tune import ScoredSettings, TunedCell

MEMBERS = {
    "lightgbm": {"n_estimators": 20, "min_child_samples": 5, "linear_tree": True},
    "xgboost": {"n_estimators": 20, "max_depth": 3},
}


def test_weight_grid_spans_the_simplex_in_steps():
    pairs = weight_grid(2, 0.1)
    assert len(pairs) == 11
    assert pairs[0] == (0.0, 1.0) and pairs[-1] == (1.0, 0.0)
    assert (0.7, 0.3) in pairs
    triples = weight_grid(3, 0.5)
    assert sorted(triples) == sorted(
        [(0, 0, 1), (0, 0.5, 0.5), (0, 1, 0), (0.5, 0, 0.5), (0.5, 0.5, 0), (1, 0, 0)]
    )
    assert all(sum(w) == pytest.approx(1.0) for w in pairs + triples)
    with pytest.raises(ValueError, match="does not divide 1"):
        weight_grid(2, 0.3)


@pytest.fixture
def matrices_and_test(repo_params, movie_factory):
    train, test = movie_factory(90, seed=11), movie_factory(30, seed=12)
    features = build_feature_pipeline("v1_original", repo_params["featurize"])
    matrices, _ = fold_matrices(features, train, test, folds=3, seed=0)
    return matrices, test


def _settings(family, matrices, test, search_predictions, **overrides):
    hyperparameters = MEMBERS[family] | overrides
    model = build_model(family, hyperparameters, seed=42)
    return ScoredSettings(
        hyperparameters=hyperparameters,
        search_predictions=search_predictions,
        result=score_cell(predict_cell(model, matrices), matrices, test),
    )


def _tuned(family, matrices, test, search_targets, search_predictions, pipeline="v1_original"):
    """A tuned cell whose params.yaml settings are far worse than its tuned ones."""
    bad = [y * 0 for y in search_targets]
    return TunedCell(
        pipeline=pipeline,
        family=family,
        method="random",
        search_cv_rmse_untuned=1.0,
        search_cv_rmse_tuned=1.0,
        trials=[],
        search_targets=search_targets,
        untuned=_settings(family, matrices, test, bad, n_estimators=1, learning_rate=0.01),
        tuned=_settings(family, matrices, test, search_predictions),
    )


def _search_folds(seed=0):
    """Two search folds whose targets the members miss in opposite directions."""
    generator = np.random.default_rng(seed)
    targets = [generator.uniform(2, 9, size=25) for _ in range(2)]
    errors = [generator.normal(0, 0.5, size=25) for _ in range(2)]
    return targets, errors


def _off(targets, errors, scale):
    return [y + scale * e for y, e in zip(targets, errors, strict=True)]


def test_blend_scores_what_the_exported_voting_regressor_predicts(matrices_and_test):
    matrices, test = matrices_and_test
    targets, errors = _search_folds()
    # lightgbm over-shoots by 1x the error, xgboost under-shoots by 3x: weights 0.75/0.25 cancel
    members = [
        _tuned("lightgbm", matrices, test, targets, _off(targets, errors, 1)),
        _tuned("xgboost", matrices, test, targets, _off(targets, errors, -3)),
    ]
    blend = blend_tuned(members, matrices, test, weight_step=0.25)
    assert blend is not None
    assert blend.family == BLEND_FAMILY
    assert blend.hyperparameters["weights"] == {"lightgbm": 0.75, "xgboost": 0.25}
    assert blend.search_cv_rmse["lightgbm 0.75 + xgboost 0.25"] == pytest.approx(0.0, abs=1e-9)

    exported = build_model(BLEND_FAMILY, blend.hyperparameters, seed=42)
    assert isinstance(exported, VotingRegressor)
    for fold, scored in zip(matrices.cv, blend.result.raw.cv, strict=True):
        fitted = build_model(BLEND_FAMILY, blend.hyperparameters, seed=42)
        fitted.fit(fold.X_train, fold.y_train)
        np.testing.assert_array_equal(fitted.predict(fold.X_valid), scored)
    final = matrices.final
    fitted = exported.fit(final.X_train, final.y_train)
    np.testing.assert_array_equal(fitted.predict(final.X_valid), blend.result.raw.test)
    # and it is a real average: between its members, different from both
    lightgbm, xgboost = (cell.result.raw.test for cell in members)
    assert not np.array_equal(blend.result.raw.test, lightgbm)
    np.testing.assert_allclose(blend.result.raw.test, 0.75 * lightgbm + 0.25 * xgboost)
    assert blend.result.metrics["test_rmse"] > 0


def test_no_blend_when_a_single_member_does_best_on_the_search_folds(matrices_and_test):
    matrices, test = matrices_and_test
    targets, errors = _search_folds()
    members = [
        _tuned("lightgbm", matrices, test, targets, _off(targets, errors, 0.01)),
        _tuned("xgboost", matrices, test, targets, _off(targets, errors, 1)),
    ]
    assert blend_tuned(members, matrices, test, weight_step=0.1) is None
    assert blend_tuned(members[:1], matrices, test, weight_step=0.1) is None


def test_members_must_share_pipeline_and_search_folds(matrices_and_test):
    matrices, test = matrices_and_test
    targets, errors = _search_folds()
    other_targets, _ = _search_folds(seed=1)
    a = _tuned("lightgbm", matrices, test, targets, _off(targets, errors, 1))
    b = _tuned("xgboost", matrices, test, targets, _off(targets, errors, -1))
    elsewhere = dataclasses.replace(b, pipeline="v2_bigrams")
    assert blend_tuned([a, elsewhere], matrices, test, weight_step=0.5) is None
    with pytest.raises(ValueError, match="different folds"):
        blend_tuned(
            [a, dataclasses.replace(b, search_targets=other_targets)],
            matrices,
            test,
            weight_step=0.5,
        )
    # blend_members keeps the cells on the best cell's pipeline (by CV RMSE on train's folds)
    result = dataclasses.replace(b.tuned.result, metrics={"cv_rmse_mean": 0.1})
    best = dataclasses.replace(elsewhere, tuned=dataclasses.replace(b.tuned, result=result))
    assert blend_members([a, best]) == [best]
    assert blend_members([a, b]) == [a, b]


def test_each_member_brings_its_better_settings_on_train_folds(matrices_and_test):
    matrices, test = matrices_and_test
    targets, errors = _search_folds()
    a = _tuned("lightgbm", matrices, test, targets, _off(targets, errors, 1))
    b = _tuned("xgboost", matrices, test, targets, _off(targets, errors, -1))
    assert a.best() is a.tuned  # one tree of learning rate 0.01 is far worse
    # swap: the tuned settings score worse on train's folds, so params.yaml's are blended
    swapped = dataclasses.replace(b, untuned=b.tuned, tuned=b.untuned)
    assert swapped.best() is swapped.untuned
    blend = blend_tuned([a, swapped], matrices, test, weight_step=0.5)
    assert blend is not None
    assert blend.hyperparameters["members"]["xgboost"] == MEMBERS["xgboost"]
    assert blend.search_cv_rmse_blend == pytest.approx(0.0, abs=1e-9)
    assert blend.search_cv_rmse_best_member > 0.1
