"""Regression metrics, rounded so that repeated runs write byte-identical files, and the file
a train or tune cell writes them to.

`write_metrics` writes JSON itself, not through dvclive's `Live.log_metric`: a cell logs a few
numbers once, with no steps, plots or experiment of dvclive's own, and importing and starting
dvclive took ~0.8 s of each train cell's process (45 a rebuild) to write the same file.
"""

from collections.abc import Mapping
from pathlib import Path

from numpy.typing import ArrayLike
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

from movie_rating.outputs import write_json

DIGITS = 6


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike, prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}rmse": round(float(root_mean_squared_error(y_true, y_pred)), DIGITS),
        f"{prefix}mae": round(float(mean_absolute_error(y_true, y_pred)), DIGITS),
        f"{prefix}r2": round(float(r2_score(y_true, y_pred)), DIGITS),
    }


def write_metrics(directory: Path, metrics: Mapping[str, float]) -> None:
    """`directory/metrics.json`: one flat object, indented by 4, a newline at the end."""
    write_json(directory / "metrics.json", dict(metrics), indent=4)
