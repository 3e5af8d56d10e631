"""MODEL_CARD.md: every section of the layout, every number from the pipeline's outputs."""

import json
from pathlib import Path

import pandas as pd

from movie_rating.artifact import ModelCard, read_card
from movie_rating.reporting.model_card import Provenance, render_model_card

REPO_ROOT = Path(__file__).resolve().parents[3]
SECTIONS = (
    "## Intended use",
    "## Out-of-scope use",
    "## Training data and provenance",
    "## Evaluation",
    "### Random split",
    "### Temporal backtest",
    "### By number of votes",
    "### Prediction intervals",
    "## Limitations",
    "## How to reproduce",
)


def card() -> ModelCard:
    return ModelCard.model_validate(
        {
            "name": "demo_model",
            "version": "abc",
            "feature_pipeline": "v9",
            "model_family": "ridge",
            "hyperparameters": {"alpha": 1.0},
            "target": "vote_average",
            "input_features": ["title", "release_date"],
            "metrics": {
                "cv_rmse_mean": 0.81,
                "cv_rmse_std": 0.02,
                "cv_r2_mean": 0.2,
                "test_rmse": 0.8234,
                "test_mae": 0.6,
                "test_r2": 0.25,
            },
            "training_data": {"path": "train.csv", "sha256": "f" * 64, "rows": 123},
            "artifact": {"path": "demo_model.joblib", "sha256": "e" * 64},
            "libraries": {"python": "3.11"},
            "created_at": "2026-01-01T00:00:00+00:00",
            "intervals": {
                "method": "normalised cross-conformal",
                "level": 0.8,
                "folds": 5,
                "test": {"coverage": 0.79, "mean_width": 1.8, "winkler": 2.7},
                "test_constant_width": {"coverage": 0.8, "mean_width": 1.8, "winkler": 2.8},
                "backtest_coverage": 0.74,
            },
        }
    )


def backtest() -> pd.DataFrame:
    rows = []
    for cut, r2 in ((2019, 0.16), (2021, 0.04)):
        row = {"cut_year": cut, "all_films": 100, "rated_films": 60}
        for name in ("winner", "seed_design", "baseline"):
            for subset in ("all", "rated"):
                row |= {f"{name}_{subset}_rmse": 0.9, f"{name}_{subset}_r2": r2}
                row |= {f"{name}_{subset}_bias": -0.2}
        for subset in ("all", "rated"):
            row |= {f"winner_{subset}_coverage": 0.75, f"winner_{subset}_mean_width": 1.9}
        rows.append(row)
    return pd.DataFrame(rows)


def test_the_card_has_every_section_and_the_numbers_it_is_made_from():
    by_votes = pd.DataFrame(
        {"votes": ["0-9", "10+"], "movies": [5, 50], "rmse": [2.27, 0.7], "mae": [1.8, 0.5]}
    )
    coverage = pd.DataFrame(
        [
            {"films": label, "count": count}
            | {f"{kind}_coverage": c for kind, c in (("adaptive", cover), ("constant_width", 0.8))}
            | {f"{kind}_mean_width": 1.8 for kind in ("adaptive", "constant_width")}
            | {f"{kind}_winkler": 2.7 for kind in ("adaptive", "constant_width")}
            for label, count, cover in (("all", 55, 0.79), ("<50", 5, 0.6))
        ]
    )
    text = render_model_card(card(), Provenance("https://x/y.csv", "d" * 64), backtest(),
                             by_votes, coverage, min_votes=50)  # fmt: skip

    assert text.startswith("---\n") and "\n# demo_model\n" in text
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert "| test split (20 %, random; never used to choose) | 0.823 | 0.600 | 0.250 |" in text
    assert "| 2021 | 100 (60) | 0.900 | 0.040 | -0.200 |" in text
    assert "mean R² over 2019-2021 is 0.100" in text
    assert "| 0-9 | 5 | 2.270 | 1.800 |" in text
    assert "mean R² is 40%\n  of the random split's" in text
    assert "model\n  under-predicts after every cut (bias -0.20 on average)" in text
    assert "https://x/y.csv" in text and "e" * 64 in text and "123 films" in text
    assert "| <50 | 5 | 60.0% | 1.80 | 2.700 | 80.0% | 1.80 | 2.700 |" in text
    assert "2019: 75%, 2021: 75% (nominal 80%)" in text


def test_the_committed_card_matches_the_committed_json():
    """export writes both; a stale MODEL_CARD.md would carry another artifact or other numbers."""
    models = REPO_ROOT / "models"
    committed = read_card(models)
    text = (models / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert committed.artifact.sha256 in text
    assert f"| {committed.metrics['test_r2']:.3f} |" in text
    backtest_json = json.loads((REPO_ROOT / "reports/backtest.json").read_text(encoding="utf-8"))
    assert f"is {backtest_json['winner']['r2']:.3f}" in text
