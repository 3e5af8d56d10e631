"""`movie-rating report`: one markdown report of what a change did to the model, for a PR.

Compares the workspace (after `dvc repro`) with a base revision, top-down:

1. the winner before and after (`reports/winner.json`), with the CV and test RMSE change;
2. `dvc metrics diff <base> --md` (the winner, each pipeline's best, data quality) and
   `dvc params diff <base> --md`;
3. every plot declared in dvc.yaml, base and workspace overlaid: DVC fills its own vega-lite
   templates (`dvc plots diff <base> --json`) and vl-convert renders each to a PNG beside the
   report, offline (no JavaScript, nothing fetched from a CDN), so a PR comment shows it;
4. every grid and tuned cell that changed (`dvc metrics diff <base> -R --targets metrics`).

Run in the repository root, where `dvc` finds the project.
"""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import vl_convert

from movie_rating.cli import command_parser
from movie_rating.errors import MovieRatingError
from movie_rating.outputs import write_text

WINNER = "reports/winner.json"
CELL_METRICS = "metrics"  # metrics/train/<cell>/metrics.json, metrics/tune/<cell>/metrics.json
PLOTS_DIR = "plots"  # PNGs, beside the report

EXAMPLES = """examples (in the repository root, after `uv run dvc repro`):
  movie-rating report --base main --out pr-report/report.md
  movie-rating report --base origin/main --out pr-report/report.md   # as the PR workflow does
"""


def run(*args: str, allow_failure: bool = False) -> str:
    """stdout of a command run in the current directory; its stderr as the error if it fails."""
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0 and not allow_failure:
        raise MovieRatingError(f"`{' '.join(args)}` failed:\n{result.stderr.strip()}")
    return result.stdout if result.returncode == 0 else ""


def dvc(*args: str) -> str:
    return run(sys.executable, "-m", "dvc", *args)


def table_or(markdown: str, empty: str) -> str:
    """A `dvc ... diff --md` table, or `empty` when it has no row (DVC prints just the header)."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return markdown.strip() if len(rows) > 2 else empty


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


def file_name(plot: str) -> str:
    """A plot's id as a file name: `reports/plots/x.csv` (a plot keyed by path) -> `x_csv.png`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(plot).name).strip("_") + ".png"


def render_plots(base: str, out_dir: Path) -> str:
    """Every dvc.yaml plot at `base` and in the workspace as PNGs in `out_dir`; markdown links.

    A plot DVC could not load (say, a file the base revision did not have yet) is named, with
    DVC's reason, instead of silently missing."""
    shown = json.loads(dvc("plots", "diff", base, "--json"))
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for plot, renders in (shown.get("data") or {}).items():
        specs = [render["content"] for render in renders if render.get("type") == "vega"]
        for index, spec in enumerate(specs):
            name = file_name(plot if index == 0 else f"{plot}_{index}")
            (out_dir / name).write_bytes(vl_convert.vegalite_to_png(spec, scale=1))
            title = spec.get("title", {})
            text = title.get("text", plot) if isinstance(title, dict) else str(title)
            lines.append(f"![{text}]({PLOTS_DIR}/{name})")
    for error in shown.get("errors") or []:
        lines.append(f"- `{error.get('name')}` at `{error.get('rev')}`: {error.get('msg')}")
    return "\n\n".join(lines) + "\n" if lines else "No plot is declared in dvc.yaml.\n"


def build_report(base: str, out: Path) -> str:
    """Write the PNGs under out's directory; return the markdown."""
    head_rev = run("git", "rev-parse", "--short", "HEAD").strip()
    base_rev = run("git", "rev-parse", "--short", base).strip()
    before = run("git", "show", f"{base}:{WINNER}", allow_failure=True)
    winner = winner_section(
        base,
        json.loads(before) if before else None,
        json.loads(Path(WINNER).read_text(encoding="utf-8")),
    )
    metrics = table_or(dvc("metrics", "diff", base, "--md"), "No metric changed.")
    params = table_or(dvc("params", "diff", base, "--md"), "No param changed.")
    plots = render_plots(base, out.parent / PLOTS_DIR)
    cells = table_or(
        dvc("metrics", "diff", base, "-R", "--targets", CELL_METRICS, "--md"), "No cell changed."
    )
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
            f"## Plots: `dvc plots diff {base}`, each revision its own colour or dash",
            plots,
            f"## Every cell: `dvc metrics diff {base} -R --targets {CELL_METRICS}`",
            cells,
            "",
        ]
    )


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = command_parser(prog, __doc__, EXAMPLES)
    parser.add_argument("--base", default="origin/main", help="git revision to compare with")
    parser.add_argument("--out", type=Path, required=True, help="the markdown file to write")
    args = parser.parse_args(argv)
    report = build_report(args.base, args.out)
    write_text(args.out, report)
    print(args.out)
