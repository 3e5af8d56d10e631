"""Comparison table, winner selection by CV only, error by vote count."""

import numpy as np
import pandas as pd
import pytest

from movie_rating.data.schema import RATING_RANGE, clip_ratings
from movie_rating.errors import MovieRatingError
from movie_rating.evaluation.comparison import (
    TABLE_COLUMNS,
    best_by_pipeline,
    choose_winner,
    error_by_vote_count,
    load_cell_metrics,
    rank_cells,
    residual_frame,
    same_features,
    to_markdown,
    vote_bucket_labels,
    with_ties,
)
from movie_rating.evaluation.metrics import regression_metrics, write_metrics


def _cell(pipeline, family, cv, test):
    return {
        "pipeline": pipeline,
        "family": family,
        "cv_rmse_mean": cv,
        "cv_rmse_std": 0.01,
        "cv_r2_mean": 0.3,
        "test_rmse": test,
        "test_mae": test * 0.8,
        "test_r2": 0.2,
    }


@pytest.fixture
def cells():
    return pd.DataFrame(
        [
            _cell("v1_original", "ridge", 0.80, 0.70),  # best on test, not on CV
            _cell("v2_bigrams", "lightgbm", 0.75, 0.90),  # best on CV
            _cell("v1_original", "lasso", 0.78, 0.71),
        ]
    )


def test_rank_cells_uses_cv_not_test(cells):
    ranked = rank_cells(cells)
    assert tuple(ranked.columns) == TABLE_COLUMNS
    assert list(ranked["rank"]) == [1, 2, 3]
    assert (ranked.loc[0, "pipeline"], ranked.loc[0, "family"]) == ("v2_bigrams", "lightgbm")
    assert list(ranked["cv_rmse_mean"]) == sorted(cells["cv_rmse_mean"])


def test_best_by_pipeline_is_each_pipelines_lowest_cv_rmse_best_first(cells):
    summary = best_by_pipeline(rank_cells(cells))
    assert summary == {"v2_bigrams": 0.75, "v1_original": 0.78}
    assert list(summary) == ["v2_bigrams", "v1_original"]


def test_pipelines_with_identical_features_are_named_beside_each_other(cells):
    prints = {"v1_original": "a", "v2_bigrams": "b", "v4_trigrams": "b", "v5_stacked": "c"}
    assert same_features(prints) == {
        "v1_original": "",
        "v2_bigrams": "v4_trigrams",
        "v4_trigrams": "v2_bigrams",
        "v5_stacked": "",
    }
    marked = with_ties(rank_cells(cells), prints)
    assert list(marked["same_features_as"]) == ["v4_trigrams", "", ""]  # v2 first, then v1 x2


def test_rank_cells_breaks_ties_by_name(cells):
    tied = cells.assign(cv_rmse_mean=0.5)
    order = list(zip(rank_cells(tied)["pipeline"], rank_cells(tied)["family"], strict=True))
    assert order == sorted(order)
    shuffled = tied.iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(rank_cells(shuffled), rank_cells(tied))


def test_to_markdown(cells):
    text = to_markdown(rank_cells(cells))
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0] == "| " + " | ".join(TABLE_COLUMNS) + " |"
    assert lines[1].startswith("|---:|---|---|---|---:|")  # numbers right-aligned, names not
    assert len(lines) == 2 + len(cells)
    assert lines[2].startswith("| 1 | v2_bigrams | lightgbm |  | 0.7500 |")  # untuned: blank


def test_tuned_rows_compete_on_cv_and_are_marked(cells):
    tuned = cells.iloc[[-1]].assign(tuned=True, cv_rmse_mean=0.1)
    ranked = rank_cells(pd.concat([cells.assign(tuned=False), tuned], ignore_index=True))
    assert bool(ranked.iloc[0]["tuned"]) is True
    assert "| yes |" in to_markdown(ranked).splitlines()[2]


def test_the_winner_is_chosen_on_cv_or_over_time_never_on_test(cells):
    finalists = cells.iloc[[1, 2]].assign(
        tuned=True, cv_rmse_mean=[0.70, 0.71], temporal_rmse_mean=[0.95, 0.90]
    )
    all_cells = pd.concat([cells.assign(tuned=False), finalists], ignore_index=True)
    ranked = rank_cells(all_cells)

    on_cv = choose_winner(ranked, all_cells, "cv")
    assert (on_cv["family"], bool(on_cv["tuned"])) == ("lightgbm", True)
    over_time = choose_winner(ranked, all_cells, "temporal")  # the lower temporal RMSE
    assert (over_time["family"], bool(over_time["tuned"])) == ("lasso", True)
    assert list(over_time.index) == list(TABLE_COLUMNS)  # a row of the table, as on cv
    with pytest.raises(MovieRatingError, match="temporal_rmse_mean"):
        choose_winner(rank_cells(cells), cells, "temporal")


def test_error_by_vote_count_buckets():
    predictions = pd.DataFrame(
        {
            "vote_count": [1, 9, 10, 49, 200, 999, 1000, 5000],
            "actual": [5.0, 7.0, 6.0, 6.0, 8.0, 6.0, 7.0, 7.5],
            "predicted": [6.0, 6.0, 6.0, 6.0, 7.0, 7.0, 7.0, 7.5],
        }
    )
    table = error_by_vote_count(predictions, [0, 10, 50, 200, 1000])
    # the empty 50-199 bucket is left out
    assert list(table["votes"]) == ["0-9", "10-49", "200-999", "1000+"]
    assert list(table["movies"]) == [2, 2, 2, 2]
    assert list(table["rmse"]) == pytest.approx([1.0, 0.0, 1.0, 0.0])
    assert list(table["mae"]) == pytest.approx([1.0, 0.0, 1.0, 0.0])
    assert table["movies"].sum() == len(predictions)


def test_vote_bucket_labels_name_each_bucket_by_its_bounds():
    assert vote_bucket_labels([1, 10, 50]) == ["1-9", "10-49", "50+"]
    assert vote_bucket_labels([1]) == ["1+"]


def test_residuals():
    frame = residual_frame(pd.DataFrame({"actual": [7.0, 5.0], "predicted": [6.5, 5.5]}))
    assert list(frame["residual"]) == [0.5, -0.5]


def test_cell_metrics_load_as_the_cells_wrote_them(tmp_path):
    written = {}
    for family, cv in [("ridge", 0.9), ("lasso", 0.812345)]:
        written[family] = {k: v for k, v in _cell("v1", family, cv, 1.0).items() if "_" in k}
        write_metrics(tmp_path / f"v1-{family}", written[family])  # as train and tune do
    text = (tmp_path / "v1-lasso" / "metrics.json").read_text(encoding="utf-8")
    assert text.startswith('{\n    "cv_rmse_mean": 0.812345,\n') and text.endswith("}\n")
    loaded = load_cell_metrics(tmp_path, ["v1"], ["ridge", "lasso"])
    assert list(loaded["family"]) == ["ridge", "lasso"]
    for family, row in zip(["ridge", "lasso"], loaded.to_dict("records"), strict=True):
        assert {k: row[k] for k in written[family]} == written[family]
    with pytest.raises(MovieRatingError, match="v1-linear"):
        load_cell_metrics(tmp_path, ["v1"], ["ridge", "linear"])


def test_regression_metrics_and_clipping():
    scores = regression_metrics([1.0, 3.0], [2.0, 3.0], prefix="test_")
    assert scores["test_rmse"] == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert scores["test_mae"] == 0.5
    assert scores["test_r2"] == 0.5  # 1 - 1/2: residual sum 1, total sum of squares 2
    assert RATING_RANGE == (0.0, 10.0)
    clipped = clip_ratings([-1.0, 5.0, 12.0, 0.0, 10.0])
    assert clipped.dtype == np.float64
    np.testing.assert_array_equal(clipped, [0.0, 5.0, 10.0, 0.0, 10.0])
