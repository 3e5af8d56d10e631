"""The registries and params.yaml agree; unknown names list the valid ones; grid cells are
named unambiguously."""

import pytest

from movie_rating.errors import MovieRatingError
from movie_rating.features.pipelines import PIPELINES
from movie_rating.models.families import MODEL_FAMILIES, build_model
from movie_rating.registry import UnknownNameError, cell_name, lookup

REGISTRIES = {"PIPELINES": PIPELINES, "MODEL_FAMILIES": MODEL_FAMILIES}


def test_every_params_pipeline_is_registered_and_configured(repo_params):
    featurize = repo_params["featurize"]
    assert featurize["pipelines"], "no feature pipelines listed"
    for name in featurize["pipelines"]:
        assert name in PIPELINES, name
        assert name in featurize, f"featurize.{name} block missing"


def test_every_params_family_is_registered(repo_params):
    families = repo_params["train"]["families"]
    assert families
    assert set(families) <= set(MODEL_FAMILIES)


def test_every_family_has_a_models_block(repo_params):
    models = repo_params["models"]
    for family in MODEL_FAMILIES:
        assert family in models, f"models.{family} missing"
    assert set(models) <= set(MODEL_FAMILIES), "models block for an unregistered family"


def test_no_duplicate_names_in_params(repo_params):
    pipelines = repo_params["featurize"]["pipelines"]
    families = repo_params["train"]["families"]
    assert len(set(pipelines)) == len(pipelines)
    assert len(set(families)) == len(families)


@pytest.mark.parametrize("registry", sorted(REGISTRIES))
def test_names_have_no_dash(registry):
    # DVC matrix cells are named "<pipeline>-<family>": a dash inside a name would be ambiguous.
    assert not [name for name in REGISTRIES[registry] if "-" in name]


def test_cell_names_are_distinct_and_split_back_into_their_parts():
    cells = {cell_name(p, f): (p, f) for p in PIPELINES for f in MODEL_FAMILIES}
    assert len(cells) == len(PIPELINES) * len(MODEL_FAMILIES)
    for name, (pipeline, family) in cells.items():
        assert name == f"{pipeline}-{family}"  # as DVC names the matrix: train@<p>-<f>
        assert tuple(name.split("-")) == (pipeline, family)


@pytest.mark.parametrize("family", sorted(MODEL_FAMILIES))
def test_every_family_builds_from_its_params_block(family, repo_params):
    model = build_model(family, repo_params["models"][family], seed=7)
    params = model.get_params()
    for key, value in repo_params["models"][family].items():
        assert params[key] == value
    seed_param = MODEL_FAMILIES[family].seed_param
    if seed_param is not None:
        assert params[seed_param] == 7


def test_fixed_settings_override_params():
    model = build_model("lightgbm", {"n_jobs": 8, "deterministic": False}, seed=1)
    assert model.get_params()["n_jobs"] == 1
    assert model.get_params()["deterministic"] is True


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as caught:
        lookup({"b": 2, "a": 1}, "c", "thing")
    assert str(caught.value) == "unknown thing 'c'; valid names: a, b"
    assert isinstance(caught.value, KeyError)


def test_unknown_family_lists_every_family():
    with pytest.raises(UnknownNameError) as caught:
        build_model("catboost", {}, seed=0)
    for family in MODEL_FAMILIES:
        assert family in str(caught.value)


@pytest.mark.parametrize(
    ("family", "typo", "meant"),
    [
        ("lightgbm", "num_leavez", "num_leaves"),  # LightGBM alone would ignore it silently
        ("xgboost", "max_deph", "max_depth"),
        ("ridge", "alphaa", "alpha"),
    ],
)
def test_a_misspelt_hyper_parameter_is_refused_with_the_name_meant(family, typo, meant):
    expected = rf"no hyper-parameter {typo} \(did you mean {meant}\?\)"
    with pytest.raises(MovieRatingError, match=expected):
        build_model(family, {typo: 3}, seed=0)


@pytest.mark.parametrize(
    ("family", "hyperparams", "named"),
    [("ridge", {"alpha": -1.0}, "'alpha'"), ("random_forest", {"max_depth": 0}, "'max_depth'")],
)
def test_an_invalid_hyper_parameter_value_is_refused_when_the_model_is_built(
    family, hyperparams, named
):
    with pytest.raises(MovieRatingError, match=rf"^The {named} parameter of \w+ must be"):
        build_model(family, hyperparams, seed=0)


@pytest.mark.parametrize(
    ("family", "hyperparams", "expected"),
    [
        ("lightgbm", {"num_leaves": 1}, r"^LGBMRegressor: Check failed: \(num_leaves\) > \(1\)$"),
        ("xgboost", {"max_depth": -1}, r"^XGBRegressor: value -1 for Parameter max_depth"),
    ],
)
def test_a_value_only_the_core_library_checks_is_refused_when_the_model_is_built(
    family, hyperparams, expected
):
    # one sentence: no source path of the library, no second line
    with pytest.raises(MovieRatingError, match=expected) as raised:
        build_model(family, hyperparams, seed=0)
    assert "\n" not in str(raised.value) and ".cpp" not in str(raised.value)


def test_the_core_check_leaves_the_built_model_unfitted_with_its_own_tree_count():
    model = build_model("lightgbm", {"n_estimators": 37}, seed=0)
    assert model.get_params()["n_estimators"] == 37 and not hasattr(model, "booster_")


def test_lightgbm_takes_its_core_parameters_and_their_aliases():
    model = build_model("lightgbm", {"linear_tree": True, "min_data_in_leaf": 5, "eta": 0.1}, 0)
    assert model.get_params()["min_data_in_leaf"] == 5 and model.get_params()["eta"] == 0.1
