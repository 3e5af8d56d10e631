"""The temporal backtest: each cut fits on earlier films only and scores the later ones."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from movie_rating.backtest.temporal import (
    BacktestParams,
    Contender,
    backtest,
    scores,
    summary,
    to_markdown,
)
from movie_rating.data.schema import TARGET, VOTE_COUNT


def films(years: list[int], ratings: list[float], votes: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "release_date": [f"{year}-06-01" for year in years],
            "year": years,
            VOTE_COUNT: votes,
            TARGET: ratings,
        }
    )


def settings(cut_years: list[int], min_votes: int = 50) -> BacktestParams:
    return BacktestParams.model_validate(
        {
            "cut_years": cut_years,
            "min_votes": min_votes,
            "vote_buckets": [1, 10, 50],
            "seed_design": {"pipeline": "v4_trigrams", "family": "lightgbm"},
        }
    )


def year_only() -> Pipeline:
    """A feature pipeline that passes the release year through."""
    return Pipeline([("year", ColumnTransformer([("year", "passthrough", ["year"])]))])


def test_bias_is_predicted_minus_actual_and_small_samples_are_nan():
    assert scores([5.0, 7.0], [6.0, 8.0])["bias"] == pytest.approx(1.0)
    assert all(math.isnan(value) for value in scores([5.0], [6.0]).values())


def test_the_baseline_is_the_mean_of_the_films_before_each_cut():
    movies = films([2010, 2011, 2012, 2013], [4.0, 6.0, 7.0, 9.0], [100, 100, 10, 100])
    table = backtest(movies, [], settings([2012, 2013]), seed=0).table

    assert table["cut_year"].tolist() == [2012, 2013]
    assert table["train_films"].tolist() == [2, 3]
    assert table["all_films"].tolist() == [2, 1]
    assert table["rated_films"].tolist() == [1, 1]
    first = table.iloc[0]
    # fitted on 4 and 6 (mean 5), scored on 7 and 9 (mean 8): under-predicts by 3
    assert first["baseline_all_bias"] == pytest.approx(-3.0)
    assert first["baseline_all_rmse"] == pytest.approx(math.sqrt((2**2 + 4**2) / 2))
    assert math.isnan(first["baseline_rated_rmse"])  # one rated film after 2012: too few


def test_a_contender_is_refitted_at_each_cut_on_earlier_films_only():
    years = list(range(2000, 2020))
    ratings = [5.0 + 0.1 * (year - 2000) for year in years]
    movies = films(years, ratings, [100] * len(years))
    linear = Contender("line", year_only(), "linear", {})
    table = backtest(movies, [linear], settings([2010, 2015]), seed=0).table

    # a straight line through the earlier films extrapolates exactly; the mean cannot
    assert np.allclose(table["line_all_rmse"], 0.0, atol=1e-9)
    assert (table["baseline_all_rmse"] > 0.5).all()
    assert (table["baseline_all_bias"] < 0).all()


def test_summary_and_markdown_show_every_contender():
    movies = films(list(range(2000, 2012)), [float(i % 4 + 5) for i in range(12)], [100] * 12)
    linear = Contender("line", year_only(), "linear", {})
    table = backtest(movies, [linear], settings([2006, 2008]), seed=0).table

    result = summary(table, "line")
    assert set(result) == {"line", "baseline"}
    assert result["line"]["rmse"] == pytest.approx(table["line_all_rmse"].mean(), abs=1e-6)
    markdown = to_markdown(table, ["line"], min_votes=50)
    assert "| 2006 | 6 |" in markdown and "| 2008, ≥ 50 votes | 4 |" in markdown
    assert markdown.count("\n") == 2 + 2 * len(table)


def test_parallel_refits_give_the_serial_result_and_leave_the_contenders_unfitted():
    generator = np.random.default_rng(0)
    years = generator.integers(1990, 2020, size=400).tolist()
    ratings = (5.0 + 0.05 * (np.array(years) - 1990) + generator.normal(0, 1, 400)).tolist()
    movies = films(years, ratings, generator.integers(1, 500, size=400).tolist())
    contenders = [
        Contender("line", year_only(), "linear", {}),
        Contender("tree", year_only(), "decision_tree", {"max_depth": 3}),
    ]
    cuts = settings([2005, 2010, 2015])

    serial = backtest(movies, contenders, cuts, seed=0, n_jobs=1)
    threaded = backtest(movies, contenders, cuts, seed=0, n_jobs=2)

    pd.testing.assert_frame_equal(serial.table, threaded.table)
    pd.testing.assert_frame_equal(serial.predictions, threaded.predictions)
    for contender in contenders:  # each refit fitted a copy
        with pytest.raises(NotFittedError):
            check_is_fitted(contender.features)
