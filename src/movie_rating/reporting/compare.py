"""`movie-rating compare`: every DVC experiment as one markdown table, best CV RMSE first.

Reads `dvc exp show --json` (the workspace, the baseline commit and every experiment run or
queued on it) and ranks rows by the winner's CV RMSE, `reports/winner.json:cv_rmse_mean`.
Beside it: the winner's CV spread and test RMSE, and how it does on films released after its
training data (the temporal backtest's mean R² and RMSE).
Only the params that differ between the rows are shown, so a sweep reads as one column.
"""

import difflib
import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from movie_rating.cli import command_parser
from movie_rating.errors import MovieRatingError, reason

DEFAULT_METRIC = "reports/winner.json:cv_rmse_mean"
EXTRA_METRICS = ("cv_rmse_std", "test_rmse")  # of the file of the sort metric
# how the winner does on films released after its training data (the backtest stage)
BACKTEST_METRICS = ("reports/backtest.json:winner.r2", "reports/backtest.json:winner.rmse")
PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class Row:
    """One experiment (or the workspace / a baseline commit) as `dvc exp show` reports it."""

    name: str
    rev: str
    state: str
    metrics: dict[str, dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"models": {"lightgbm": {"num_leaves": 31}}} -> {"models.lightgbm.num_leaves": 31}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _row(entry: dict[str, Any], name: str, state: str) -> Row:
    data = entry.get("data") or {}
    metrics = {path: (m or {}).get("data") or {} for path, m in (data.get("metrics") or {}).items()}
    params = ((data.get("params") or {}).get(PARAMS_FILE) or {}).get("data") or {}
    rev = str(entry.get("rev", ""))
    return Row(name, "-" if rev == "workspace" else rev[:7], state, metrics, flatten(params))


def rows_from_exp_show(shown: list[dict[str, Any]]) -> list[Row]:
    """Flatten `dvc exp show --json` (DVC 3): baselines and the experiments under each."""
    rows = []
    for baseline in shown:
        rev = str(baseline.get("rev", ""))
        label = "workspace" if rev == "workspace" else baseline.get("name") or rev[:7]
        rows.append(_row(baseline, label, "baseline" if rev != "workspace" else "workspace"))
        for experiment in baseline.get("experiments") or []:
            executor = experiment.get("executor") or {}
            state = executor.get("state") or "done"
            for revision in (experiment.get("revs") or [])[:1]:
                name = experiment.get("name") or revision.get("name") or revision["rev"][:7]
                rows.append(_row(revision, name, state))
    return rows


def metric_value(row: Row, metric: str) -> float:
    """`path:dotted.key` looked up in the row's metrics; NaN when missing (queued, failed)."""
    path, _, key = metric.rpartition(":")
    value: Any = row.metrics.get(path, {})
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else math.nan


def varying_params(rows: list[Row]) -> list[str]:
    """Param keys whose value is not the same in every row (missing counts as a value)."""
    keys = sorted({key for row in rows for key in row.params})
    return [k for k in keys if len({json.dumps(row.params.get(k)) for row in rows}) > 1]


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    if value is None:
        return "-"
    return str(value).replace("|", "\\|")


def check_metric(rows: list[Row], metric: str) -> None:
    """A metric no row has (a typo) would sort nothing without a word: say so, and what the
    rows do have that is closest."""
    if not rows or any(not math.isnan(metric_value(row, metric)) for row in rows):
        return
    known = sorted(
        {
            f"{path}:{key}"
            for row in rows
            for path, values in row.metrics.items()
            for key, value in flatten(values).items()
            if isinstance(value, int | float)
        }
    )
    close = difflib.get_close_matches(metric, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; `{DEFAULT_METRIC}` is one"
    raise MovieRatingError(f"no experiment has the metric {metric} (`path:key`){hint}")


def to_markdown(rows: list[Row], metric: str) -> str:
    """Rows sorted by `metric` ascending (missing last, then by name) as a markdown table."""
    path, _, _ = metric.rpartition(":")
    ranked = sorted(
        rows,
        key=lambda row: (math.isnan(value := metric_value(row, metric)), value, row.name),
    )
    extra = [f"{path}:{name}" for name in EXTRA_METRICS if f"{path}:{name}" != metric]
    extra += [name for name in BACKTEST_METRICS if name != metric]
    params = varying_params(rows)
    header = ["rank", "experiment", "rev", "state", "winner", metric, *extra, *params]
    numeric = {0, *range(5, 6 + len(extra))}
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i in numeric else "---" for i in range(len(header))) + "|",
    ]
    for rank, row in enumerate(ranked, start=1):
        winner = row.metrics.get(path, {})
        cell = f"{winner['pipeline']}-{winner['family']}" if "pipeline" in winner else "-"
        values = [
            rank,
            row.name,
            row.rev,
            row.state,
            cell,
            metric_value(row, metric),
            *(metric_value(row, name) for name in extra),
            *(row.params.get(key) for key in params),
        ]
        lines.append("| " + " | ".join(_format(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def exp_show_json(all_commits: bool) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    if all_commits:
        command.append("--all-commits")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MovieRatingError(f"`{' '.join(command[2:])}` failed:\n{result.stderr.strip()}")
    return list(json.loads(result.stdout))


EXAMPLES = """examples (in the repository root):
  movie-rating compare                        # this commit's experiments, best first
  movie-rating compare --all-commits --metric reports/winner.json:test_rmse
  movie-rating compare --input exps.json      # a saved `dvc exp show --json`
"""


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = command_parser(prog, __doc__, EXAMPLES)
    parser.add_argument("--metric", default=DEFAULT_METRIC, help="`path:key` to sort by, ascending")
    parser.add_argument("--input", type=Path, help="a saved `dvc exp show --json` instead of DVC")
    parser.add_argument("--all-commits", action="store_true", help="experiments of every commit")
    args = parser.parse_args(argv)

    if args.input:
        try:
            shown = json.loads(args.input.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise MovieRatingError(f"cannot read {args.input.name}: {reason(error)}") from None
    else:
        shown = exp_show_json(args.all_commits)
    rows = rows_from_exp_show(shown)
    check_metric(rows, args.metric)
    sys.stdout.write(to_markdown(rows, args.metric))
