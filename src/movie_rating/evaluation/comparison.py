"""Compare every trained cell and choose the winner: by cross-validated RMSE (the default), or
by the tune stage's temporal validation inside train (`evaluate.select_on`)."""

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from movie_rating.data.schema import VOTE_COUNT
from movie_rating.errors import MovieRatingError
from movie_rating.evaluation.metrics import DIGITS, regression_metrics
from movie_rating.registry import cell_name

SELECTION_METRIC = "cv_rmse_mean"
TEMPORAL_METRIC = "temporal_rmse_mean"  # the tune stage's, of each tuned finalist
TABLE_COLUMNS = (
    "rank",
    "pipeline",
    "family",
    "tuned",
    "cv_rmse_mean",
    "cv_rmse_std",
    "cv_r2_mean",
    "test_rmse",
    "test_mae",
    "test_r2",
)


def load_cell_metrics(
    metrics_dir: Path, pipelines: Sequence[str], families: Sequence[str]
) -> pd.DataFrame:
    """One row per pipeline x family cell named in params.yaml; a missing cell is an error."""
    rows = []
    for pipeline in pipelines:
        for family in families:
            path = metrics_dir / cell_name(pipeline, family) / "metrics.json"
            if not path.is_file():
                raise MovieRatingError(
                    f"no metrics for cell {cell_name(pipeline, family)} at {path}"
                )
            metrics = json.loads(path.read_text(encoding="utf-8"))
            rows.append({"pipeline": pipeline, "family": family, **metrics})
    return pd.DataFrame(rows)


def load_tuned_cells(summary_path: Path) -> pd.DataFrame:
    """Rows for the cells the tune stage rescored with their best hyper-parameters."""
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    return pd.DataFrame([{**cell, "tuned": True} for cell in summary.values()])


def rank_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Sort by CV RMSE (ties broken by name, so the order never depends on file order)."""
    cells = cells.assign(tuned=cells.get("tuned", False)).astype({"tuned": bool})
    ranked = cells.sort_values([SELECTION_METRIC, "pipeline", "family", "tuned"], kind="stable")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked.loc[:, list(TABLE_COLUMNS)]


def choose_winner(ranked: pd.DataFrame, cells: pd.DataFrame, select_on: str) -> pd.Series:
    """The winner's row of `ranked` (`rank_cells`' table). `cv`: its first row. `temporal`:
    of the cells with a temporal RMSE (the tuned finalists), the lowest; ties by name."""
    if select_on == "cv":
        return ranked.iloc[0]
    temporal = cells.get(TEMPORAL_METRIC)
    scored = cells[temporal.notna()] if temporal is not None else cells.iloc[:0]
    if scored.empty:
        raise MovieRatingError(f"select_on {select_on}: no cell has a {TEMPORAL_METRIC}")
    best = scored.sort_values([TEMPORAL_METRIC, "pipeline", "family"], kind="stable").iloc[0]
    same = (
        (ranked["pipeline"] == best["pipeline"])
        & (ranked["family"] == best["family"])
        & (ranked["tuned"] == bool(best["tuned"]))
    )
    return ranked[same].iloc[0]


def load_fingerprints(feature_reports: Path, pipelines: Sequence[str]) -> dict[str, str]:
    """Each pipeline's feature fingerprint, from the summaries `featurize` writes."""
    return {
        name: json.loads((feature_reports / f"{name}.json").read_text("utf-8"))["fingerprint"]
        for name in pipelines
    }


def same_features(fingerprints: Mapping[str, str]) -> dict[str, str]:
    """Pipeline -> the other pipelines whose features are identical to its own ("" if none):
    every model scores them alike, so their rows of the comparison tie."""
    return {
        name: ", ".join(o for o, print_ in fingerprints.items() if print_ == mine and o != name)
        for name, mine in fingerprints.items()
    }


def with_ties(ranked: pd.DataFrame, fingerprints: Mapping[str, str]) -> pd.DataFrame:
    """The comparison table with a `same_features_as` column (see `same_features`)."""
    return ranked.assign(same_features_as=ranked["pipeline"].map(same_features(fingerprints)))


def best_by_pipeline(ranked: pd.DataFrame) -> dict[str, float]:
    """Each pipeline's best CV RMSE (tuned cells too), in `rank_cells`' order of pipelines:
    the review's view of a sweep, one number a pipeline (the table has the rest). Keyed by
    the pipeline alone, so `dvc exp show` heads each column with just its name."""
    best = ranked.groupby("pipeline", sort=False)[SELECTION_METRIC].min()
    return {str(name): float(value) for name, value in best.items()}


def to_markdown(table: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        if isinstance(value, bool):
            return "yes" if value else ""
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---:" if table[c].dtype.kind in "if" else "---" for c in table) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def vote_bucket_labels(edges: Sequence[int]) -> list[str]:
    """ "1-9", "10-49", ..., "1000+" for vote-count bucket edges [1, 10, 50, ..., 1000]."""
    return [
        f"{low}+" if high is None else f"{low}-{high - 1}"
        for low, high in itertools.pairwise([*edges, None])
    ]


def error_by_vote_count(predictions: pd.DataFrame, edges: Sequence[int]) -> pd.DataFrame:
    """RMSE and MAE per vote-count bucket: ratings from few votes are noisy by nature."""
    labels = vote_bucket_labels(edges)
    buckets = pd.cut(predictions[VOTE_COUNT], [*edges, np.inf], labels=labels, right=False)
    rows = []
    for label in labels:
        subset = predictions[buckets == label]
        if subset.empty:
            continue
        scores = regression_metrics(subset["actual"], subset["predicted"])
        rows.append(
            {"votes": label, "movies": len(subset), "rmse": scores["rmse"], "mae": scores["mae"]}
        )
    return pd.DataFrame(rows)


def residual_frame(predictions: pd.DataFrame) -> pd.DataFrame:
    out = predictions.loc[:, ["actual", "predicted"]].copy()
    out["residual"] = np.round(out["actual"] - out["predicted"], DIGITS)
    return out
