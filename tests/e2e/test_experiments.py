"""The real DVC pipeline, sweeps, the experiment queue, comparing and promoting experiments,
and the PR report.

Runs the README's commands against a throwaway copy of the project on a ~300-record sample
with a 2 x 2 grid (see dvc_sandbox.py): its first `dvc repro` must run every stage, a second
must run none. Each test can run alone and in any order: the module's
sandbox reproduces the baseline once, every test starts from a workspace reset to it (a test
that commits, like the PR report's, moves nothing the next one sees), and what a test needs
from an expensive run comes from a module fixture that runs it once for the tests that ask:
the single experiment, the queued grid. The grid's wait scales with the measured repro, and
every process a sandbox started is stopped, pass or fail, and checked gone.
"""

import csv
import json
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml
from dvc_sandbox import (
    MULTI_LINE_CONTINUATIONS,
    RAW_DATA,
    SAMPLE_RECORDS,
    Sandbox,
    create_sandbox,
    describe,
)

from movie_rating.artifact import CARD_FILE, read_card
from movie_rating.data.ingest import sha256_of

# The timeout is a last resort above the queue's own deadline, which scales with the machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PIPELINES = ["v1_original", "v4_trigrams"]
FAMILIES = ["ridge", "lightgbm"]
METRIC = "reports/winner.json:cv_rmse_mean"
RUNNING = re.compile(r"Running stage '([^']+)'")
QUEUED = re.compile(r"Queued experiment '([^']+)'")
COMPARE = ("-m", "movie_rating", "compare")  # `movie-rating compare`, the sandbox's package
REPORT = ("-m", "movie_rating", "report")
SUMMARY_METRICS = (
    "reports/winner.json",
    "reports/best_cv_rmse_by_pipeline.json",
    "reports/data_quality.json",
    "reports/backtest.json",
    "reports/intervals.json",
)
MAX_METRIC_COLUMNS = 30
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID_WORKERS = 2
# After the grid finished, how long `dvc queue stop` may take to let the workers wind down.
WIND_DOWN_SECONDS = 60


@dataclass(frozen=True)
class Experiment:
    name: str
    output: str


@dataclass(frozen=True)
class QueuedGrid:
    output: str  # of `dvc exp run --queue`
    states: dict[str, str]  # experiment name -> state once finished


def new_sandbox(tmp_path_factory) -> Sandbox:
    if not RAW_DATA.is_file():
        pytest.skip(f"raw data not found at {RAW_DATA}")
    return create_sandbox(
        tmp_path_factory.mktemp("exp_project"),
        tmp_path_factory.mktemp("pycache"),
        pipelines=PIPELINES,
        families=FAMILIES,
    )


def stop_everything(sandbox: Sandbox) -> None:
    """Teardown: no process of the sandbox outlives it. One DVC did not stop is a warning (it
    was killed), one that survives the kill an error."""
    killed = sandbox.stop_workers()
    if killed:
        warnings.warn(f"killed what DVC left running: {killed}", stacklevel=1)
    left = [describe(p) for p in sandbox.processes()]
    assert not left, f"processes of {sandbox.root} survived: {left}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    project = new_sandbox(tmp_path_factory)
    try:
        project.repro_baseline("first repro")
        yield project
    finally:
        stop_everything(project)


@pytest.fixture(autouse=True)
def from_the_baseline(request) -> None:
    """Every test using the sandbox starts at its baseline commit with a clean workspace,
    whatever the test before it did (applied an experiment, committed, failed half-way)."""
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").reset()


@pytest.fixture(scope="module")
def single_experiment(sandbox) -> Experiment:
    """`dvc exp run` changing one pipeline's featurize param, once for the tests that ask."""
    sandbox.reset()
    name = "overview-100"
    output = sandbox.dvc(
        "exp", "run", "-n", name, "-S", "featurize.v4_trigrams.overview_max_features=100"
    )
    return Experiment(name, output)


@pytest.fixture(scope="module")
def queued_grid(sandbox) -> QueuedGrid:
    """A grid queued against the baseline (each point varies one param) and run by
    GRID_WORKERS queue workers until every point finished, successfully or not; then the
    workers are stopped, the wait failed or not."""
    sandbox.reset()
    output = sandbox.dvc(
        "exp", "run", "--queue", "-S", "models.lightgbm.num_leaves=range(15,64,48)"
    )
    names = QUEUED.findall(output)
    sandbox.start_workers(GRID_WORKERS)
    try:
        deadline = sandbox.queue_deadline(len(names), GRID_WORKERS)
        states = sandbox.wait_for_experiments(names, timeout=deadline)
        # `dvc queue stop` lets the workers finish collecting results before they exit
        sandbox.stop_workers(grace=WIND_DOWN_SECONDS)
    finally:
        sandbox.stop_workers()
    return QueuedGrid(output, states)


@pytest.fixture
def best_of_grid(sandbox, queued_grid) -> str:
    """The grid point with the lowest CV RMSE, as `movie-rating compare` reports the scores."""
    scores = {
        row["experiment"]: float(row[METRIC])
        for row in table_rows(sandbox.python(*COMPARE))
        if row["experiment"] in queued_grid.states
    }
    assert len(scores) == len(queued_grid.states), scores
    return min(scores, key=lambda name: scores[name])


@pytest.fixture
def unreproduced_sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    project = new_sandbox(tmp_path_factory)
    try:
        yield project
    finally:
        stop_everything(project)


def table_rows(markdown: str) -> list[dict[str, str]]:
    """A markdown table as dicts keyed by the header (the `|---|` rule skipped)."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, body = split[0], [row for row in split[2:]]
    return [dict(zip(header, row, strict=True)) for row in body]


def test_the_first_repro_runs_every_stage_and_writes_outputs(sandbox):
    declared = set(sandbox.dvc("stage", "list", "--name-only").split())
    cells = {f"train@{p}-{f}" for p in PIPELINES for f in FAMILIES}
    assert declared >= {"ingest", "clean", *(f"featurize@{p}" for p in PIPELINES), *cells,
                        "tune", "evaluate", "backtest", "export"}  # fmt: skip
    assert set(RUNNING.findall(sandbox.baseline_output)) == declared
    root = sandbox.root
    dvc_vars = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["vars"]
    paths = next(v["paths"] for v in dvc_vars if isinstance(v, dict) and "paths" in v)
    for output in ("model_comparison.md", "winner.json", "backtest.md"):
        assert (root / "reports" / output).is_file(), output
    model = root / paths["model"]
    card = read_card(model.parent)
    assert model.parent / CARD_FILE == root / paths["model_card"]
    assert (card.name, card.artifact.path) == (model.stem, model.name)
    assert card.artifact.sha256 == sha256_of(model)

    quality = json.loads((root / "reports/data_quality.json").read_text(encoding="utf-8"))
    assert quality["records_in"] == SAMPLE_RECORDS + 1 + MULTI_LINE_CONTINUATIONS
    assert quality["records_in"] == quality["clean"] + quality["quarantined"]
    with (root / "data/interim/quarantine.csv").open(encoding="utf-8", newline="") as file:
        quarantined = list(csv.DictReader(file))
    # the real file's unquoted continuation lines land there, not in the data
    continuations = [row for row in quarantined if row["Release_Date"].startswith(" - ")]
    assert len(continuations) == MULTI_LINE_CONTINUATIONS

    table = (root / "reports/model_comparison.md").read_text(encoding="utf-8")
    for pipeline in PIPELINES:
        for family in FAMILIES:
            assert f"| {pipeline} | {family} |" in table, (pipeline, family)


def test_a_second_repro_runs_nothing_and_status_is_clean(sandbox):
    again = sandbox.dvc("repro")
    assert RUNNING.findall(again) == []
    assert "Data and pipelines are up to date" in sandbox.dvc("status")
    shown = sandbox.dvc("metrics", "show")
    assert "cv_rmse_mean" in shown and "records_in" in shown


def test_exp_show_shows_what_a_reviewer_decides_on(sandbox):
    """`dvc exp show` lists the summary metrics only (at most 30 columns); the cells' own
    numbers are one documented command away."""
    # A commit of its own, so the table has the baseline's columns only, not those that other
    # tests' experiments add (a queue's State and Executor, a param only an experiment sets).
    sandbox.run("git", "commit", "-q", "--allow-empty", "-m", "before any experiment")
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


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; fails unless the file is a PNG."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_pr_report_reads_top_down_and_renders_every_declared_plot(sandbox, tmp_path):
    def lower_ridge_alpha(params):
        params["models"]["ridge"]["alpha"] = 0.5

    sandbox.set_params(lower_ridge_alpha)
    rerun = set(RUNNING.findall(sandbox.dvc("repro")))
    sandbox.commit("ridge alpha 0.5")
    # a family's setting reruns its cells and what reads them, nothing upstream or beside
    ridge_cells = {f"train@{pipeline}-ridge" for pipeline in PIPELINES}
    assert ridge_cells | {"evaluate"} <= rerun, rerun
    assert not {stage for stage in rerun if stage.startswith(("ingest", "clean", "featurize"))}
    assert not {stage for stage in rerun if stage.endswith("-lightgbm")}, rerun

    out = tmp_path / "report" / "report.md"
    sandbox.python(*REPORT, "--base", "HEAD~1", "--out", str(out))
    report = out.read_text(encoding="utf-8")

    # top-down: the winner, the metrics and params diffs, the plots, then every changed cell
    sections = ["## Winner", "## Metrics", "## Params", "## Plots", "## Every cell"]
    positions = [report.index(section) for section in sections]
    assert positions == sorted(positions), report
    metrics = table_rows(report.split("## Metrics")[1].split("## Params")[0])
    assert {row["Path"] for row in metrics} <= set(SUMMARY_METRICS), report
    params = table_rows(report.split("## Params")[1].split("## Plots")[0])
    assert {"Param": "models.ridge.alpha", "HEAD~1": "10.0", "workspace": "0.5"}.items() <= (
        next(row for row in params if row["Param"] == "models.ridge.alpha").items()
    )
    cells = table_rows(report.split("## Every cell")[1])
    changed = [
        row for row in cells
        if row["Path"].endswith("-ridge/metrics.json") and row["Metric"] == "cv_rmse_mean"
    ]  # fmt: skip
    assert changed, report
    assert all(row["HEAD~1"] != row["workspace"] and row["Change"] != "-" for row in changed)

    # every plot dvc.yaml declares, the tuning history among them, as a PNG beside the report
    declared = [
        next(iter(plot))
        for plot in yaml.safe_load((sandbox.root / "dvc.yaml").read_text())["plots"]
    ]
    assert "tuning_history" in declared
    plots = report.split("## Plots")[1].split("## Every cell")[0]
    for name in declared:
        assert f"](plots/{name}.png)" in plots, (name, plots)
        width, height = png_size(out.parent / "plots" / f"{name}.png")
        assert width >= 200 and height >= 150, (name, width, height)
    assert "cdn." not in report and "<script" not in report  # nothing to fetch when read


def test_exp_run_with_a_featurize_override_reruns_only_that_pipeline(sandbox, single_experiment):
    rerun = set(RUNNING.findall(single_experiment.output))
    assert "featurize@v4_trigrams" in rerun
    assert not any("v1_original" in stage for stage in rerun), rerun
    assert {"train@v4_trigrams-ridge", "train@v4_trigrams-lightgbm", "evaluate"} <= rerun
    assert sandbox.experiment_states()[single_experiment.name] == "done"


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


def test_queued_grid_runs_every_experiment(sandbox, queued_grid, single_experiment):
    queued = list(queued_grid.states)
    assert len(queued) == 2, queued_grid.output  # 15, 63: a grid, each point a full pipeline run
    states = queued_grid.states
    assert set(states.values()) <= {"success", "done"}, f"{states}\n{sandbox.queue_report(queued)}"

    shown = sandbox.stdout(
        sys.executable, "-m", "dvc", "exp", "show", "--md", "--only-changed",
        "--sort-by", METRIC, "--sort-order", "asc",
    )  # fmt: skip
    for name in [*queued, single_experiment.name]:
        assert name in shown, shown


def test_stopping_workers_leaves_no_process_of_the_sandbox(unreproduced_sandbox):
    """What every sandbox's teardown relies on: a worker busy with a run (the whole pipeline,
    never reproduced here) is found among the sandbox's processes, and none is left after
    `stop_workers`, as after a test that failed while its experiments ran."""
    sandbox = unreproduced_sandbox
    sandbox.dvc("exp", "run", "--queue", "-n", "interrupted")
    sandbox.start_workers(1)
    deadline = time.monotonic() + 120
    while not (workers := queue_workers(sandbox)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert workers, f"no queue worker found:\n{sandbox.queue_report(['interrupted'])}"
    sandbox.stop_workers()
    assert [describe(p) for p in sandbox.processes()] == []


def queue_workers(sandbox: Sandbox) -> list[str]:
    return [d for d in map(describe, sandbox.processes()) if "exp queue-worker" in d]


def test_compare_lists_every_experiment_sorted_by_cv_rmse(sandbox, queued_grid, single_experiment):
    table = table_rows(sandbox.python(*COMPARE))
    names = [row["experiment"] for row in table]
    assert set(queued_grid.states) | {single_experiment.name, "workspace", "main"} <= set(names)
    scores = [float(row[METRIC]) for row in table if row[METRIC] != "-"]
    assert len(scores) == len(table)
    assert scores == sorted(scores)
    leaves = {row["experiment"]: row["models.lightgbm.num_leaves"] for row in table}
    assert sorted(leaves[name] for name in queued_grid.states) == ["15", "63"]


def test_apply_and_branch_the_best_experiment(sandbox, best_of_grid):
    best = best_of_grid
    sandbox.dvc("exp", "apply", best)
    applied = yaml.safe_load((sandbox.root / "params.yaml").read_text(encoding="utf-8"))
    table = table_rows(sandbox.python(*COMPARE))
    expected = next(row for row in table if row["experiment"] == best)
    assert (
        str(applied["models"]["lightgbm"]["num_leaves"]) == expected["models.lightgbm.num_leaves"]
    )
    assert "Data and pipelines are up to date" in sandbox.dvc("status")

    sandbox.dvc("exp", "branch", best, "best-num-leaves")
    assert "best-num-leaves" in sandbox.run("git", "branch", "--list", "best-num-leaves")
    on_branch = yaml.safe_load(sandbox.run("git", "show", "best-num-leaves:params.yaml"))
    assert on_branch["models"] == applied["models"]
