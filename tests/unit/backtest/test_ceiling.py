"""The vote-noise ceiling: recovered on ratings whose noise is known."""

import numpy as np
import pandas as pd
import pytest

from movie_rating.backtest.ceiling import (
    ceiling_markdown,
    ceiling_rows,
    ceiling_table,
    vote_variance,
)

EDGES = [1, 10, 50, 200]


def noisy_ratings(vote_sd: float, seed: int = 0, n: int = 20_000):
    """True ratings, vote counts 1-2000 (log-uniform), and averages of that many votes."""
    rng = np.random.default_rng(seed)
    true = rng.normal(6.5, 0.8, n)
    votes = np.floor(np.exp(rng.uniform(0, np.log(2000), n))).astype(int)
    observed = true + rng.normal(0.0, vote_sd / np.sqrt(votes))
    return true, votes, observed


def test_the_vote_variance_is_the_slope_of_the_squared_error_in_one_over_votes():
    true, votes, observed = noisy_ratings(vote_sd=2.0)
    # a perfect model (error = vote noise) and one with 0.5 of error of its own
    assert vote_variance(observed - true, votes, EDGES) == pytest.approx(4.0, rel=0.1)
    rng = np.random.default_rng(1)
    worse = true + rng.normal(0.0, 0.5, len(true))
    assert vote_variance(observed - worse, votes) == pytest.approx(4.0, rel=0.15)
    # no noise at all: nothing to remove beyond the model's own error
    assert vote_variance(true - worse, votes) == pytest.approx(0.0, abs=0.2)


def test_a_bias_that_differs_by_vote_bucket_is_not_taken_for_noise():
    true, votes, observed = noisy_ratings(vote_sd=2.0)
    # little-known films over-predicted by 1.5, famous ones under-predicted by 0.3
    biased = true + np.where(votes < 10, 1.5, np.where(votes >= 200, -0.3, 0.0))
    assert vote_variance(observed - biased, votes) > 4.0 * 1.2  # taken for noise
    assert vote_variance(observed - biased, votes, EDGES) == pytest.approx(4.0, rel=0.1)


def test_a_perfect_model_sits_on_the_ceiling_in_every_bucket():
    true, votes, observed = noisy_ratings(vote_sd=2.0)
    rows = {row["votes"]: row for row in ceiling_rows(observed, true, votes, EDGES)}

    assert list(rows) == ["1-9", "10-49", "50-199", "200+", "all"]
    assert sum(rows[label]["films"] for label in ["1-9", "10-49", "50-199", "200+"]) == len(true)
    for row in rows.values():
        assert row["noise_share"] == pytest.approx(1.0, abs=0.12)
        assert row["r2"] == pytest.approx(row["r2_ceiling"], abs=0.03)
        assert row["vote_sd"] == pytest.approx(2.0, rel=0.05)
    # few votes: the average is mostly noise, so even a perfect model explains little
    assert rows["1-9"]["r2_ceiling"] < 0.5 < rows["200+"]["r2_ceiling"]


def test_a_model_off_by_a_constant_stays_below_the_ceiling():
    true, votes, observed = noisy_ratings(vote_sd=2.0)
    rows = ceiling_rows(observed, true + 0.5, votes, EDGES)
    for row in rows:
        assert row["r2"] < row["r2_ceiling"] - 0.01
        assert row["noise_share"] < 0.95


def test_small_buckets_are_left_out():
    # one film in 10-49: too few to score, left out
    rows = ceiling_rows([5.0, 6.0, 7.0, 8.0], [5.5, 6.0, 7.0, 7.5], [1, 2, 20, 3], [1, 10])
    assert [row["votes"] for row in rows] == ["1-9", "all"]


def test_the_table_has_one_block_per_cut_and_renders():
    true, votes, observed = noisy_ratings(vote_sd=2.0, n=2_000)
    predictions = pd.DataFrame(
        {"cut_year": [2019] * 1000 + [2020] * 1000, "y": observed, "p": true, "n": votes}
    )
    table = ceiling_table(predictions, EDGES, actual="y", predicted="p", votes="n")

    assert table["cut_year"].unique().tolist() == [2019, 2020]
    assert (table.groupby("cut_year")["votes"].last() == "all").all()
    text = ceiling_markdown(table)
    assert text.count("\n| 2019 |") == 5 and "SD of one vote" in text
