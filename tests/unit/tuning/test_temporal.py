"""Temporal validation inside train: each cut fits on earlier films, scores later ones."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from movie_rating.data.schema import TARGET
from movie_rating.tuning.temporal import temporal_rmse


def films(years: list[int], ratings: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"release_date": [f"{y}-06-01" for y in years], "year": years, TARGET: ratings}
    )


def on(columns: list[str], model) -> Pipeline:
    return Pipeline([("x", ColumnTransformer([("x", "passthrough", columns)])), ("m", model)])


def test_a_trend_only_the_year_can_follow_is_scored_on_later_films():
    years = list(range(2000, 2020))
    train = films(years, [5.0 + 0.1 * (y - 2000) for y in years])
    # a line in the year extrapolates exactly; a constant (no input varies) cannot
    assert temporal_rmse(on(["year"], LinearRegression()), train, [2010, 2015]) == pytest.approx(
        0.0, abs=1e-6
    )
    flat = train.assign(one=1.0)
    error = temporal_rmse(on(["one"], LinearRegression()), flat, [2010, 2015])
    # fitted on 2000-2009 (mean 5.45), scored on 2010-2019 (6.0-6.9); at 2015: 5.7, 6.5-6.9
    first = math.sqrt(np.mean((np.arange(6.0, 6.95, 0.1) - 5.45) ** 2))
    second = math.sqrt(np.mean((np.arange(6.5, 6.95, 0.1) - 5.7) ** 2))
    assert error == pytest.approx((first + second) / 2, abs=1e-3)


def test_a_cut_with_nothing_on_one_side_is_an_error():
    train = films([2000, 2001, 2002], [5.0, 6.0, 7.0])
    with pytest.raises(ValueError, match="temporal cut 2030"):
        temporal_rmse(on(["year"], LinearRegression()), train, [2030])
