"""Coverage, width and the Winkler score, by hand."""

import numpy as np
import pandas as pd
import pytest

from movie_rating.intervals.scores import interval_scores, interval_table


def test_scores_by_hand():
    actual = np.array([5.0, 7.0, 2.0, 6.0])
    bounds = np.array([[4.0, 6.0], [4.0, 6.0], [3.0, 5.0], [5.0, 6.0]])
    scores = interval_scores(actual, bounds, level=0.8)
    assert scores["coverage"] == 0.5  # 5.0 and 6.0 inside, 7.0 above, 2.0 below
    assert scores["mean_width"] == pytest.approx(1.75)
    # widths 2, 2, 2, 1; misses by 1 and 1, each x 2 / (1 - 0.8) = 10
    assert scores["winkler"] == pytest.approx((2 + 12 + 12 + 1) / 4)


def test_the_table_has_a_row_for_all_and_one_per_group():
    actual = np.array([5.0, 7.0, 2.0])
    kinds = {"a": np.array([[4.0, 6.0]] * 3), "b": np.array([[0.0, 10.0]] * 3)}
    table = interval_table(actual, kinds, pd.Series(["x", "y", "y"]), 0.8)
    assert table["films"].tolist() == ["all", "x", "y"]
    assert table["count"].tolist() == [3, 1, 2]
    assert table["a_coverage"].tolist() == pytest.approx([1 / 3, 1.0, 0.0])
    assert table["b_coverage"].tolist() == [1.0, 1.0, 1.0]
