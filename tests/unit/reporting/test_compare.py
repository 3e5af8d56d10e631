"""`movie-rating compare` on a saved `dvc exp show --json` (the e2e tests run it on DVC's)."""

import json

import pytest

from movie_rating.errors import MovieRatingError
from movie_rating.reporting.compare import main, rows_from_exp_show, to_markdown

METRIC = "reports/winner.json:cv_rmse_mean"


def entry(rev: str, cv_rmse: float | None, leaves: int, backtest_r2: float) -> dict:
    winner = {"pipeline": "v5", "family": "lightgbm", "test_rmse": 0.8, "cv_rmse_std": 0.01}
    if cv_rmse is not None:
        winner["cv_rmse_mean"] = cv_rmse
    return {
        "rev": rev,
        "data": {
            "metrics": {
                "reports/winner.json": {"data": winner},
                "reports/backtest.json": {"data": {"winner": {"r2": backtest_r2, "rmse": 0.9}}},
            },
            "params": {"params.yaml": {"data": {"models": {"lightgbm": {"num_leaves": leaves}}}}},
        },
    }


def test_rows_rank_by_cv_rmse_with_the_backtest_beside_and_only_varying_params():
    shown = [
        {**entry("workspace", 0.77, 31, 0.13)},
        {
            **entry("a" * 40, 0.77, 31, 0.13),
            "name": "main",
            "experiments": [
                {"name": "wide", "revs": [entry("b" * 40, 0.75, 63, 0.12)]},
                {
                    "name": "queued",
                    "executor": {"state": "queued"},
                    "revs": [entry("c" * 40, None, 15, 0.0)],
                },
            ],
        },
    ]
    table = to_markdown(rows_from_exp_show(shown), METRIC).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[-3:] == [
        "reports/backtest.json:winner.r2",
        "reports/backtest.json:winner.rmse",
        "models.lightgbm.num_leaves",
    ]
    names = [line.split("|")[2].strip() for line in table[2:]]
    assert names == ["wide", "main", "workspace", "queued"]  # ties by name; no score last
    assert "| 0.7500 | 0.0100 | 0.8000 | 0.1200 | 0.9000 | 63 |" in table[2]
    assert table[5].split("|")[6].strip() == "-"


def test_a_metric_no_experiment_has_is_refused_with_the_closest_names(tmp_path, capsys):
    saved = tmp_path / "exps.json"
    saved.write_text(json.dumps([entry("workspace", 0.77, 31, 0.13)]), encoding="utf-8")
    with pytest.raises(MovieRatingError, match=r"did you mean reports/winner\.json:cv_rmse_"):
        main(["--input", str(saved), "--metric", "reports/winner.json:cv_rmse"])
    with pytest.raises(MovieRatingError, match=r"has the metric nope:zz .*`reports/winner"):
        main(["--input", str(saved), "--metric", "nope:zz"])
    assert capsys.readouterr().out == ""
    main(["--input", str(saved), "--metric", "reports/backtest.json:winner.r2"])
    assert "| 1 | workspace |" in capsys.readouterr().out
    saved.write_text("{not json", encoding="utf-8")
    with pytest.raises(MovieRatingError, match=r"cannot read exps\.json: Expecting"):
        main(["--input", str(saved)])
