"""A throwaway git + DVC copy of the project on a small sample, for tests that drive real DVC.

`create_sandbox` copies dvc.yaml, params.yaml, stages/ and src/movie_rating into a fresh repo,
points the ingest stage at the first few hundred records of the raw file (checksum updated in
the copied params.yaml), shrinks the pipeline x family grid, and commits. Commands run with
this venv's interpreter first on PATH, so `python` in dvc.yaml's `cmd` is the test's python.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from movie_rating.data.ingest import sha256_of

REPO_ROOT = Path(__file__).resolve().parents[2]
RAW_DATA = REPO_ROOT.parent / "shared" / "data" / "movies.csv"
SOURCE_IN_DVC_YAML = "source: ../shared/data/movies.csv"
SAMPLE = "sample/movies.csv"
COMMAND_TIMEOUT = 240
PENDING = {None, "queued", "running"}


def write_sample(path: Path, records: int) -> None:
    """The raw file's header and its first `records` physical lines, byte for byte."""
    with RAW_DATA.open(encoding="utf-8", newline="") as source:
        lines = [line for _, line in zip(range(records + 1), source, strict=False)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8", newline="")


@dataclass
class Sandbox:
    """A temporary project repo and the environment every command in it runs with."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command in the repo root; fail the test with its output unless it exits 0."""
        result = subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
        return output

    def stdout(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Like `run`, but only stdout (for commands whose output is parsed, e.g. --json)."""
        result = subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def dvc(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return self.run(sys.executable, "-m", "dvc", *args, timeout=timeout)

    def start_workers(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command that leaves workers behind (`dvc queue start`) until it returns: its
        output goes to a file, since the workers inherit it and a pipe would keep the call
        waiting until they finish (minutes on a busy machine)."""
        with tempfile.TemporaryFile("w+", encoding="utf-8") as output:
            result = subprocess.run(
                args, cwd=self.root, env=self.env, stdout=output, stderr=subprocess.STDOUT,
                text=True, timeout=timeout, check=False,
            )  # fmt: skip
            output.seek(0)
            text = output.read()
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{text}"
        return text

    def python(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return self.stdout(sys.executable, *args, timeout=timeout)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def back_to_head(self) -> None:
        """Drop an experiment's workspace: HEAD's params and committed outputs, no files of cells
        HEAD does not have (they would show as changed outputs), HEAD's cached outputs."""
        self.run("git", "checkout", "--", ".")
        self.run("git", "clean", "-fdq", "--", "reports", "metrics")
        self.dvc("checkout", "--force")

    def set_params(self, edit: Callable[[dict[str, Any]], None]) -> None:
        """Load params.yaml, let `edit` change it in place, write it back."""
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(params)
        path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    def experiment_states(self) -> dict[str, str] | None:
        """Experiment name -> executor state from `dvc exp show --json` ("done" if none); None
        when the command fails (see `wait_for_experiments`)."""
        result = subprocess.run(
            [sys.executable, "-m", "dvc", "exp", "show", "--json"],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            return None
        return {
            experiment["name"]: (experiment.get("executor") or {}).get("state") or "done"
            for baseline in json.loads(result.stdout)
            for experiment in baseline.get("experiments") or []
        }

    def wait_for_experiments(self, names: Sequence[str], timeout: float) -> dict[str, str]:
        """Poll until every named experiment has finished (or `timeout` s pass); their states.

        While workers run, `dvc exp show` can fail on an experiment's temporary folder that a
        worker is just creating or removing: such a poll is repeated, not failed."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.experiment_states() or {}
            finished = {n: states.get(n) for n in names if states.get(n) not in PENDING}
            if len(finished) == len(names):
                return {n: str(s) for n, s in finished.items()}
            queue = self.dvc("queue", "status")
            assert time.monotonic() < deadline, f"not done after {timeout} s: {states}\n{queue}"
            time.sleep(5)


def create_sandbox(
    root: Path,
    pycache: Path,
    *,
    pipelines: Sequence[str],
    families: Sequence[str],
    records: int = 300,
    cv_folds: int = 2,
    n_estimators: int = 30,
) -> Sandbox:
    """Copy the project into `root` with a sample and a small grid; git init, dvc init, commit."""
    shutil.copytree(REPO_ROOT / "stages", root / "stages")
    shutil.copytree(
        REPO_ROOT / "src" / "movie_rating",
        root / "src" / "movie_rating",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    write_sample(root / SAMPLE, records)

    dvc_yaml = (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8")
    assert SOURCE_IN_DVC_YAML in dvc_yaml, "dvc.yaml no longer declares the source path"
    # Without the `render` stage: the sandbox has no notebooks/, and running them would add
    # ~15 s to every repro here (tests/e2e/test_notebooks.py runs them once, on real outputs).
    pipeline = yaml.safe_load(dvc_yaml.replace(SOURCE_IN_DVC_YAML, f"source: {SAMPLE}"))
    del pipeline["stages"]["render"]
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
    shutil.copy(REPO_ROOT / "params.yaml", root / "params.yaml")
    (root / ".gitignore").write_text("__pycache__/\n*.pyc\n.optuna/\n", encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # Relative on purpose: queued experiments run in their own copy under .dvc/tmp/exps,
        # and each must import its own copy of the package.
        "PYTHONPATH": "src",
        # Bytecode outside the project, so no .pyc lands in a stage's deps.
        "PYTHONPYCACHEPREFIX": str(pycache),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    sandbox = Sandbox(root, env)

    def shrink(params: dict[str, Any]) -> None:
        params["ingest"]["sha256"] = sha256_of(root / SAMPLE)
        params["featurize"]["pipelines"] = list(pipelines)
        params["train"]["families"] = list(families)
        params["train"]["cv_folds"] = cv_folds
        for settings in params["models"].values():
            if settings and "n_estimators" in settings:
                settings["n_estimators"] = n_estimators
        # Shrink the hyper-parameter search after the grid, if the project has one.
        for key, small in {"n_trials": 2, "cv_folds": 2, "top_families": 1}.items():
            if key in params.get("tune", {}):
                params["tune"][key] = small

    sandbox.set_params(shrink)
    sandbox.run("git", "init", "-q", "-b", "main")
    sandbox.dvc("init", "-q")
    sandbox.commit("sample project")
    return sandbox
