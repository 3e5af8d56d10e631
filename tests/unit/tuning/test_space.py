"""A bad search space fails before training, with the offending key named."""

import copy

import pytest

from movie_rating.params import ParamsError, parse_section
from movie_rating.tuning.space import TuneParams


def tune_section(repo_params):
    return copy.deepcopy(repo_params["tune"])


def parse(section):
    return parse_section({"tune": section}, "tune", TuneParams)


def test_repo_tune_section_is_valid(repo_params):
    tune = parse(tune_section(repo_params))
    assert tune.tunable_families() == set(tune.spaces)


def test_unknown_family_is_named(repo_params):
    section = tune_section(repo_params)
    section["spaces"]["catboost"] = {"depth": {"type": "int", "low": 2, "high": 8}}
    with pytest.raises(ParamsError, match=r"spaces\.catboost: unknown model family.*lightgbm"):
        parse(section)


def test_low_above_high_is_named(repo_params):
    section = tune_section(repo_params)
    section["spaces"]["lightgbm"]["num_leaves"] = {"type": "int", "low": 64, "high": 8}
    with pytest.raises(ParamsError, match=r"tune\.spaces\.lightgbm\.num_leaves.*low \(64\) > high"):
        parse(section)


@pytest.mark.parametrize(
    ("name", "space"),
    [
        ("learning_rate", {"type": "float", "low": 0.0, "high": 0.3, "log": True}),
        ("num_leaves", {"type": "int", "low": 0, "high": 64, "log": True}),
    ],
)
def test_log_range_from_zero_is_named(repo_params, name, space):
    section = tune_section(repo_params)
    section["spaces"]["lightgbm"][name] = space
    with pytest.raises(ParamsError, match=rf"tune\.spaces\.lightgbm\.{name}.*log-scaled"):
        parse(section)


def test_unknown_distribution_is_named(repo_params):
    section = tune_section(repo_params)
    section["spaces"]["lightgbm"]["learning_rate"] = {"type": "gamma", "low": 0.1, "high": 1}
    with pytest.raises(ParamsError, match=r"tune\.spaces\.lightgbm\.learning_rate.*gamma"):
        parse(section)


def test_unknown_method_is_named(repo_params):
    section = tune_section(repo_params) | {"method": "bayes"}
    with pytest.raises(ParamsError, match=r"tune\.method"):
        parse(section)


def test_empty_grid_values_are_rejected(repo_params):
    section = tune_section(repo_params)
    section["grids"]["lightgbm"]["num_leaves"] = []
    with pytest.raises(ParamsError, match=r"grids\.lightgbm\.num_leaves"):
        parse(section)
