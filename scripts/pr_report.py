"""Write one markdown report of what a change did to the model, for a pull-request comment.

Compares the workspace (after `dvc repro`) with a base revision:

- the winner before and after (`reports/winner.json`), with the CV RMSE change;
- `dvc metrics diff <base> --md` (the winner, each pipeline's best, data quality) and
  `dvc params diff <base> --md`; then every grid and tuned cell that changed
  (`dvc metrics diff <base> -R --targets metrics --md`);
- predicted vs actual and residuals of the winner on the test split, base and head overlaid,
  drawn with matplotlib into PNGs beside the report (renders offline, and CML uploads them);
- `dvc plots diff <base> --out <dir>/dvc_plots`: every plot in dvc.yaml as vega specs in one
  HTML page. That page loads vega from cdn.jsdelivr.net when opened, so it needs a network.

    uv run python scripts/pr_report.py --base origin/main --out pr-report/report.md

Run from the repository root. Paths below are the git-tracked outputs named in dvc.yaml.
"""

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

WINNER = "reports/winner.json"
CELL_METRICS = "metrics"  # metrics/train/<cell>, metrics/tune/<cell>: dvclive's metrics.json
PREDICTIONS = "reports/plots/test_predictions.csv"
PLOTS_DIR = "dvc_plots"


def run(*args: str, allow_failure: bool = False) -> str:
    """stdout of a command run in the repo root; exit with its stderr if it fails."""
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0 and not allow_failure:
        sys.exit(f"`{' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
    return result.stdout if result.returncode == 0 else ""


def dvc(*args: str) -> str:
    return run(sys.executable, "-m", "dvc", *args)


def at_base(base: str, path: str) -> str | None:
    """A git-tracked file's text at `base`; None if it did not exist there."""
    return run("git", "show", f"{base}:{path}", allow_failure=True) or None


def load_winner(text: str | None) -> dict[str, Any] | None:
    return json.loads(text) if text else None


def winner_section(base: str, before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    cell = f"`{after['pipeline']}-{after['family']}`"
    if before is None:
        return f"Winner: {cell}, CV RMSE {after['cv_rmse_mean']:.4f} (no winner at `{base}`).\n"
    change = after["cv_rmse_mean"] - before["cv_rmse_mean"]
    verdict = "better" if change < 0 else "worse" if change > 0 else "unchanged"
    return (
        f"| | `{base}` | workspace | change |\n|---|---|---|---:|\n"
        f"| winner | `{before['pipeline']}-{before['family']}` | {cell} | |\n"
        f"| CV RMSE | {before['cv_rmse_mean']:.4f} | {after['cv_rmse_mean']:.4f} "
        f"| {change:+.4f} ({verdict}) |\n"
        f"| test RMSE | {before['test_rmse']:.4f} | {after['test_rmse']:.4f} "
        f"| {after['test_rmse'] - before['test_rmse']:+.4f} |\n"
    )


def plot_predictions(base: str, base_csv: str | None, head: pd.DataFrame, out_dir: Path) -> str:
    """Two PNGs (predicted vs actual, residuals), base in grey under head; markdown links."""
    frames = {"workspace": head}
    if base_csv:
        frames = {base: pd.read_csv(io.StringIO(base_csv)), **frames}
    colours = {base: "0.6", "workspace": "tab:blue"}
    low = min(f[["actual", "predicted"]].min().min() for f in frames.values())
    high = max(f[["actual", "predicted"]].max().max() for f in frames.values())

    figures = {
        "predicted_vs_actual.png": ("actual", "predicted", "Predicted vs actual (test split)"),
        "residuals.png": ("predicted", "residual", "Residuals (actual - predicted) vs predicted"),
    }
    links = []
    for name, (x, y, title) in figures.items():
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=90)
        for label, frame in frames.items():
            ax.scatter(frame[x], frame[y], s=6, alpha=0.5, color=colours[label], label=label)
        if y == "predicted":
            ax.plot([low, high], [low, high], color="black", linewidth=0.8)
        else:
            ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set(xlabel=x, ylabel=y, title=title)
        ax.legend(loc="upper left", markerscale=3)
        fig.tight_layout()
        fig.savefig(out_dir / name)
        plt.close(fig)
        links.append(f"![{title}]({name})")
    return "\n".join(links) + "\n"


def build_report(base: str, out: Path) -> str:
    """Write the PNGs and the vega HTML under out's directory; return the markdown."""
    out_dir = out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    head_rev = run("git", "rev-parse", "--short", "HEAD").strip()
    base_rev = run("git", "rev-parse", "--short", base).strip()

    metrics = dvc("metrics", "diff", base, "--md").strip() or "No metric changed."
    cells = dvc("metrics", "diff", base, "-R", "--targets", CELL_METRICS, "--md").strip()
    params = dvc("params", "diff", base, "--md").strip() or "No param changed."
    dvc("plots", "diff", base, "--out", str(out_dir / PLOTS_DIR))
    winner = winner_section(
        base,
        load_winner(at_base(base, WINNER)),
        json.loads(Path(WINNER).read_text(encoding="utf-8")),
    )
    plots = plot_predictions(base, at_base(base, PREDICTIONS), pd.read_csv(PREDICTIONS), out_dir)
    return "\n".join(
        [
            f"# Model report: `{base}` ({base_rev}) → workspace (HEAD {head_rev})",
            "",
            "## Winner",
            winner,
            f"## Metrics: `dvc metrics diff {base}`",
            metrics,
            "",
            f"## Params: `dvc params diff {base}`",
            params,
            "",
            f"## Every cell: `dvc metrics diff {base} -R --targets {CELL_METRICS}`",
            cells or "No cell changed.",
            "",
            "## Plots: winner on the test split, base (grey) and workspace (blue)",
            plots,
            f"All dvc.yaml plots, base vs workspace: `{PLOTS_DIR}/index.html` in the report "
            "artifact (vega; loads its JavaScript from cdn.jsdelivr.net when opened).",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="origin/main", help="git revision to compare with")
    parser.add_argument("--out", type=Path, required=True, help="the markdown file to write")
    args = parser.parse_args()
    matplotlib.use("Agg")  # headless: CI runners and tests have no display
    args.out.write_text(build_report(args.base, args.out), encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
