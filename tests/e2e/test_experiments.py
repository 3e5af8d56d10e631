"""Sweeps, the experiment queue, comparing and promoting experiments, and the PR report.

Runs the README's commands against a throwaway copy of the project on a ~300-record sample
with a 2 x 2 grid (see dvc_sandbox.py). The tests share one sandbox and run in file order:
the PR report test makes a second commit, the experiment tests build on whatever is HEAD.
"""

import csv
import json
import re
import sys

import pytest
import yaml
from dvc_sandbox import RAW_DATA, REPO_ROOT, Sandbox, create_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PIPELINES = ["v1_original", "v4_trigrams"]
FAMILIES = ["ridge", "lightgbm"]
METRIC = "reports/winner.json:cv_rmse_mean"
RUNNING = re.compile(r"Running stage '([^']+)'")
QUEUED = re.compile(r"Queued experiment '([^']+)'")
COMPARE = REPO_ROOT / "scripts" / "compare.py"
SUMMARY_METRICS = ("reports/winner.json", "reports/pipelines.json", "reports/data_quality.json")
MAX_METRIC_COLUMNS = 30
PR_REPORT = REPO_ROOT / "scripts" / "pr_report.py"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Sandbox:
    if not RAW_DATA.is_file():
        pytest.skip(f"raw data not found at {RAW_DATA}")
    project = create_sandbox(
        tmp_path_factory.mktemp("exp_project"),
        tmp_path_factory.mktemp("pycache"),
        pipelines=PIPELINES,
        families=FAMILIES,
    )
    project.dvc("repro")
    project.commit("first repro")
    yield project
    # Queue workers stop on their own once the queue is empty; make sure none outlives the test.
    project.run(sys.executable, "-m", "dvc", "queue", "stop", "--kill")


@pytest.fixture(scope="module")
def shared() -> dict[str, object]:
    """State handed from one test to the next (experiment names)."""
    return {}


def table_rows(markdown: str) -> list[dict[str, str]]:
    """A markdown table as dicts keyed by the header (the `|---|` rule skipped)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, body = split[0], [row for row in split[2:]]
    return [dict(zip(header, row, strict=True)) for row in body]


def test_exp_show_shows_what_a_reviewer_decides_on(sandbox):
    """`dvc exp show` lists the summary metrics only (at most 30 columns); the cells' own
    numbers are one documented command away."""
    shown = json.loads(sandbox.stdout(sys.executable, "-m", "dvc", "exp", "show", "--json"))
    data = shown[0]["data"]
    metric_files = data["metrics"]
    assert set(metric_files) == set(SUMMARY_METRICS), sorted(metric_files)
    metric_columns = sum(len(flatten(m["data"])) for m in metric_files.values())
    assert 0 < metric_columns <= MAX_METRIC_COLUMNS
    table = sandbox.stdout(sys.executable, "-m", "dvc", "exp", "show", "--md")
    header = table.splitlines()[0]
    param_columns = len(flatten(data["params"]["params.yaml"]["data"]))
    # Experiment, Created, the metrics, the params, the deps' hashes: no other metric column
    assert header.count("|") - 1 == 2 + metric_columns + param_columns + len(data["deps"])
    cells = sandbox.stdout(sys.executable, "-m", "dvc", "metrics", "show", "-R", "metrics")
    assert "metrics/train/v1_original-ridge/metrics.json" in cells


def flatten(tree: dict, prefix: str = "") -> dict:
    flat: dict = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        flat.update(flatten(value, name) if isinstance(value, dict) else {name: value})
    return flat


def test_pr_report_shows_metric_and_param_changes(sandbox, tmp_path):
    def lower_ridge_alpha(params):
        params["models"]["ridge"]["alpha"] = 0.5

    sandbox.set_params(lower_ridge_alpha)
    sandbox.dvc("repro")
    sandbox.commit("ridge alpha 0.5")

    out = tmp_path / "report" / "report.md"
    sandbox.python(str(PR_REPORT), "--base", "HEAD~1", "--out", str(out))
    report = out.read_text(encoding="utf-8")

    # the reviewer's metrics first: the summary files only, then every changed cell
    metrics = table_rows(report.split("## Metrics")[1].split("## Params")[0])
    assert {row["Path"] for row in metrics} <= set(SUMMARY_METRICS), report
    cells = table_rows(report.split("## Every cell")[1].split("## Plots")[0])
    changed = [
        row for row in cells
        if row["Path"].endswith("-ridge/metrics.json") and row["Metric"] == "cv_rmse_mean"
    ]  # fmt: skip
    assert changed, report
    assert all(row["HEAD~1"] != row["workspace"] and row["Change"] != "-" for row in changed)

    params = table_rows(report.split("## Params")[1].split("## Every cell")[0])
    assert {"Param": "models.ridge.alpha", "HEAD~1": "10.0", "workspace": "0.5"}.items() <= (
        next(row for row in params if row["Param"] == "models.ridge.alpha").items()
    )
    for image in ("predicted_vs_actual.png", "residuals.png"):
        assert f"]({image})" in report
        assert (out.parent / image).stat().st_size > 1000
    html = (out.parent / "dvc_plots" / "index.html").read_text(encoding="utf-8")
    assert "predicted_vs_actual" in html or "test_predictions" in html


def test_exp_run_with_a_featurize_override_reruns_only_that_pipeline(sandbox, shared):
    output = sandbox.dvc(
        "exp", "run", "-n", "overview-100", "-S", "featurize.v4_trigrams.overview_max_features=100"
    )
    rerun = set(RUNNING.findall(output))
    assert "featurize@v4_trigrams" in rerun
    assert not any("v1_original" in stage for stage in rerun), rerun
    assert {"train@v4_trigrams-ridge", "train@v4_trigrams-lightgbm", "evaluate"} <= rerun
    assert sandbox.experiment_states()["overview-100"] == "done"
    shared["single"] = "overview-100"
    # back to HEAD for the queue, so the grid varies one param against the committed baseline
    sandbox.back_to_head()


@pytest.mark.parametrize("method", ["random", "grid", "optuna"])
def test_exp_run_with_each_tuning_method(sandbox, method):
    sandbox.dvc("exp", "run", "-n", f"tune-{method}", "-S", f"tune.method={method}")
    summary = json.loads((sandbox.root / "reports/tuning/summary.json").read_text("utf-8"))
    assert summary, "the tune stage tuned nothing"
    for cell in summary:
        report = json.loads((sandbox.root / f"reports/tuning/{cell}.json").read_text("utf-8"))
        assert report["method"] == method
        assert report["trials"] and all(
            t["state"] in {"complete", "pruned"} for t in report["trials"]
        )
        assert report["metrics"]["cv_rmse_mean"] > 0
    assert sandbox.experiment_states()[f"tune-{method}"] == "done"
    sandbox.back_to_head()


def test_exp_run_with_a_blend_ranks_it_beside_its_members(sandbox):
    sandbox.dvc(
        "exp", "run", "-n", "blend",
        "-S", "tune.top_families=2", "-S", "tune.blend={weight_step:0.1}",
        # blend members share one pipeline, and each needs a search space (ridge has none yet)
        "-S", f"featurize.pipelines=[{PIPELINES[0]}]",
        "-S", "++tune.spaces.ridge={alpha:{type:float,low:0.1,high:100.0,log:true}}",
    )  # fmt: skip
    summary = json.loads((sandbox.root / "reports/tuning/summary.json").read_text("utf-8"))
    assert {cell["family"] for cell in summary.values()} == {*FAMILIES, "blend"}, summary
    blend_name = next(name for name, cell in summary.items() if cell["family"] == "blend")
    report = json.loads((sandbox.root / f"reports/tuning/{blend_name}.json").read_text("utf-8"))
    # every weighting of the two members was scored on the search folds; the kept one mixes both
    assert len(report["search_cv_rmse"]) == 11, report["search_cv_rmse"]
    weights = report["hyperparameters"]["weights"]
    assert set(weights) == set(report["hyperparameters"]["members"]) == set(FAMILIES)
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) > 0
    with (sandbox.root / "reports/model_comparison.csv").open(encoding="utf-8") as table:
        ranked = {(row["pipeline"], row["family"]) for row in csv.DictReader(table)}
    assert (report["pipeline"], "blend") in ranked, ranked
    assert sandbox.experiment_states()["blend"] == "done"
    sandbox.back_to_head()


def test_queued_grid_runs_every_experiment(sandbox, shared):
    output = sandbox.dvc(
        "exp", "run", "--queue", "-S", "models.lightgbm.num_leaves=range(15,64,48)"
    )
    queued = QUEUED.findall(output)
    assert len(queued) == 2, output  # 15, 63: a grid, each point a full pipeline run
    sandbox.start_workers(sys.executable, "-m", "dvc", "queue", "start", "-j", "2")
    states = sandbox.wait_for_experiments(queued, timeout=400)
    assert set(states.values()) <= {"success", "done"}, states
    shared["grid"] = queued

    shown = sandbox.stdout(
        sys.executable, "-m", "dvc", "exp", "show", "--md", "--only-changed",
        "--sort-by", METRIC, "--sort-order", "asc",
    )  # fmt: skip
    for name in [*queued, shared["single"]]:
        assert name in shown, shown


def test_compare_lists_every_experiment_sorted_by_cv_rmse(sandbox, shared):
    table = table_rows(sandbox.python(str(COMPARE)))
    names = [row["experiment"] for row in table]
    assert set(shared["grid"]) | {shared["single"], "workspace", "main"} <= set(names)
    scores = [float(row[METRIC]) for row in table if row[METRIC] != "-"]
    assert len(scores) == len(table)
    assert scores == sorted(scores)
    leaves = {row["experiment"]: row["models.lightgbm.num_leaves"] for row in table}
    assert sorted(leaves[name] for name in shared["grid"]) == ["15", "63"]
    shared["best"] = next(name for name in names if name in shared["grid"])


def test_apply_and_branch_the_best_experiment(sandbox, shared):
    best = shared["best"]
    sandbox.dvc("exp", "apply", best)
    applied = yaml.safe_load((sandbox.root / "params.yaml").read_text(encoding="utf-8"))
    table = table_rows(sandbox.python(str(COMPARE)))
    expected = next(row for row in table if row["experiment"] == best)
    assert (
        str(applied["models"]["lightgbm"]["num_leaves"]) == expected["models.lightgbm.num_leaves"]
    )
    assert "Data and pipelines are up to date" in sandbox.dvc("status")

    sandbox.dvc("exp", "branch", best, "best-num-leaves")
    assert "best-num-leaves" in sandbox.run("git", "branch", "--list", "best-num-leaves")
    on_branch = yaml.safe_load(sandbox.run("git", "show", "best-num-leaves:params.yaml"))
    assert on_branch["models"] == applied["models"]
