"""Regression metrics, rounded so that repeated runs write byte-identical files."""

from numpy.typing import ArrayLike
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

DIGITS = 6


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike, prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}rmse": round(float(root_mean_squared_error(y_true, y_pred)), DIGITS),
        f"{prefix}mae": round(float(mean_absolute_error(y_true, y_pred)), DIGITS),
        f"{prefix}r2": round(float(r2_score(y_true, y_pred)), DIGITS),
    }
