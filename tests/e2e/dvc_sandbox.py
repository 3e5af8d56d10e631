"""A throwaway git + DVC copy of the project on a small sample, for tests that drive real DVC.

`create_sandbox` copies dvc.yaml, params.yaml, stages/ and src/movie_rating into a fresh repo,
points the ingest stage at the first few hundred records of the raw file (checksum updated in
the copied params.yaml), shrinks the pipeline x family grid, and commits. Commands run with
this venv's interpreter first on PATH, so `python` in dvc.yaml's `cmd` is the test's python.

`repro_baseline` reproduces and commits the baseline and times it; `reset` puts the repo back
there. The experiment queue: `start_workers` returns when `dvc queue start` does (the workers
never hold a pipe of the test's), `wait_for_experiments` polls with a deadline from
`queue_deadline` (the number of runs times the measured repro, with slack), and
`stop_workers` stops every process of the sandbox, found by the marker variable in its
environment, its working directory or its command line.
"""

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # a dependency of DVC's
import yaml

from movie_rating.data.ingest import sha256_of

REPO_ROOT = Path(__file__).resolve().parents[2]
RAW_DATA = REPO_ROOT.parent / "shared" / "data" / "movies.csv"
SOURCE_IN_DVC_YAML = "source: ../shared/data/movies.csv"
SAMPLE = "sample/movies.csv"
SAMPLE_RECORDS = 300  # the raw file's first records in a sandbox's sample
COMMAND_TIMEOUT = 240
PENDING = {None, "queued", "running"}
# Every process a sandbox command starts inherits this variable, set to the sandbox's root.
MARKER = "E2E_SANDBOX_ROOT"
# A queued run copies the repo, runs its changed stages and collects the results, while other
# runs and other jobs share the cores: allowed this many times the baseline repro...
QUEUE_SLACK = 6
# ... and never less than this: starting celery workers alone takes seconds on a busy machine.
QUEUE_FLOOR_SECONDS = 180
LOG_LINES = 40
STOP_SECONDS = 10


# A record of the real file whose overview runs over 10 more unquoted lines: the clean stage
# must quarantine those lines, not read them as films.
MULTI_LINE_RECORD = "2013-10-20,Pixie Hollow"
MULTI_LINE_CONTINUATIONS = 10


def write_sample(path: Path, records: int) -> None:
    """The raw file's header and its first `records` physical lines, then the multi-line
    record and its continuation lines, byte for byte."""
    with RAW_DATA.open(encoding="utf-8", newline="") as source:
        lines = source.readlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(MULTI_LINE_RECORD))
    assert start > records, "the multi-line record is already in the first lines"
    sample = lines[: records + 1] + lines[start : start + 1 + MULTI_LINE_CONTINUATIONS]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sample), encoding="utf-8", newline="")


@dataclass
class Sandbox:
    """A temporary project repo and the environment every command in it runs with."""

    root: Path
    env: dict[str, str]
    # Set by `repro_baseline`: the commit every test starts from, what reproducing it took,
    # and what `dvc repro` printed.
    baseline: str = ""
    repro_seconds: float = 0.0
    baseline_output: str = ""
    # `start_workers`' output, for the message of a failed wait.
    worker_output: list[str] = field(default_factory=list)

    def attempt(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        """Run a command in the repo root and return what happened, whatever its exit code."""
        return subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command in the repo root; fail the test with its output unless it exits 0."""
        result = self.attempt(*args, timeout=timeout)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{output}"
        return output

    def stdout(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Like `run`, but only stdout (for commands whose output is parsed, e.g. --json)."""
        result = self.attempt(*args, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        return result.stdout

    def dvc(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return self.run(sys.executable, "-m", "dvc", *args, timeout=timeout)

    def python(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return self.stdout(sys.executable, *args, timeout=timeout)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)

    def repro_baseline(self, message: str) -> None:
        """`dvc repro` and commit: the baseline `reset` returns to. How long the repro took is
        the measure of what a queued experiment costs on this machine, now (`queue_deadline`)."""
        started = time.monotonic()
        self.baseline_output = self.dvc("repro")
        self.repro_seconds = time.monotonic() - started
        self.commit(message)
        self.baseline = self.stdout("git", "rev-parse", "HEAD").strip()

    def reset(self) -> None:
        """Back to the baseline: branch main at the baseline commit (wherever a test moved it),
        checked out with exactly its files (none a test added, e.g. of cells the baseline does
        not have, which would show as changed outputs) and its cached outputs."""
        assert self.baseline, "no baseline: call repro_baseline first"
        self.run("git", "checkout", "-q", "-f", "-B", "main", self.baseline)
        self.run("git", "clean", "-fdq")
        self.dvc("checkout", "--force")

    def set_params(self, edit: Callable[[dict[str, Any]], None]) -> None:
        """Load params.yaml, let `edit` change it in place, write it back."""
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(params)
        path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    # --- The experiment queue ---------------------------------------------------------------

    def start_workers(self, workers: int) -> str:
        """`dvc queue start -j workers`, returning once the command does, not when its workers do.

        DVC forks the workers from the command, so they inherit its stdout and stderr: those go
        to a file, since a pipe would keep this call waiting until the workers finish (minutes
        on a busy machine). The command gets a session of its own, so the workers are not in
        pytest's process group; `stop_workers` finds them by the sandbox's environment."""
        args = [sys.executable, "-m", "dvc", "queue", "start", "-j", str(workers)]
        with tempfile.TemporaryFile("w+", encoding="utf-8") as output:
            result = subprocess.run(
                args, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, text=True, timeout=COMMAND_TIMEOUT, check=False,
                start_new_session=True,
            )  # fmt: skip
            output.seek(0)
            text = output.read()
        self.worker_output.append(text)
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{text}"
        return text

    def queue_deadline(self, experiments: int, workers: int) -> float:
        """Seconds to wait for `experiments` queued runs on `workers` workers: rounds of
        (at most as many as cores) parallel runs, each allowed QUEUE_SLACK baseline repros."""
        assert self.repro_seconds > 0, "no baseline repro measured: call repro_baseline first"
        parallel = max(1, min(workers, os.cpu_count() or 1))
        rounds = math.ceil(experiments / parallel)
        return max(QUEUE_FLOOR_SECONDS, QUEUE_SLACK * self.repro_seconds * rounds)

    def experiment_states(self) -> dict[str, str] | None:
        """Experiment name -> executor state from `dvc exp show --json` ("done" if none); None
        when the command fails (see `wait_for_experiments`)."""
        result = self.attempt(sys.executable, "-m", "dvc", "exp", "show", "--json")
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
            assert time.monotonic() < deadline, (
                f"not done after {timeout:.0f} s: {states}\n{self.queue_report(names)}"
            )
            time.sleep(5)

    def queue_report(self, names: Sequence[str]) -> str:
        """What a failed wait shows: `dvc queue status`, each experiment's `dvc queue logs`
        (their last lines), what `dvc queue start` said, and the sandbox's live processes."""
        dvc = (sys.executable, "-m", "dvc")
        parts = []
        for title, args in [
            ("dvc queue status", (*dvc, "queue", "status")),
            *((f"dvc queue logs {name}", (*dvc, "queue", "logs", name)) for name in names),
        ]:
            result = self.attempt(*args, timeout=60)
            lines = (result.stdout + result.stderr).splitlines()[-LOG_LINES:]
            parts.append(f"--- {title} (exit {result.returncode})\n" + "\n".join(lines))
        parts.append("--- dvc queue start\n" + "\n".join(self.worker_output))
        processes = "\n".join(describe(p) for p in self.processes()) or "none"
        parts.append(f"--- processes of the sandbox\n{processes}")
        return "\n".join(parts)

    def processes(self) -> list[psutil.Process]:
        """Live processes of this sandbox: started with its environment (the marker variable
        holds its root), or running in or naming its folder. The queue workers and the runs
        they execute are all three; their stage processes at least the first."""
        root = str(self.root)
        inside = re.compile(re.escape(root) + rf"($|{re.escape(os.sep)})")
        found = []
        for process in psutil.process_iter(["cmdline", "cwd", "environ", "status"]):
            info = process.info
            if process.pid == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if (
                (info["environ"] or {}).get(MARKER) == root
                or inside.match(info["cwd"] or "")
                or any(inside.search(arg) for arg in info["cmdline"] or [])
            ):
                found.append(process)
        return found

    def stop_workers(self, *, grace: float = 0) -> list[str]:
        """Stop every process of the sandbox; those DVC did not stop itself, described.

        With `grace`, `dvc queue stop` first lets running tasks finish for up to that long;
        then `dvc queue stop --kill`; then what is left of the sandbox gets SIGTERM and, 5 s
        later, SIGKILL. Runs on a failed test too (from fixture teardowns), so no worker
        outlives pytest; the caller asserts `processes()` is empty afterwards."""
        dvc = (sys.executable, "-m", "dvc")
        if grace and self.processes():
            self.attempt(*dvc, "queue", "stop", timeout=60)
            settle(self.processes, grace)
        if self.processes():
            self.attempt(*dvc, "queue", "stop", "--kill", timeout=60)
            settle(self.processes, STOP_SECONDS)
        left = self.processes()
        described = [describe(p) for p in left]
        for process in left:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(left, timeout=STOP_SECONDS)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=STOP_SECONDS)
        return described


def settle(processes: Callable[[], list[psutil.Process]], timeout: float) -> None:
    """Poll until `processes()` is empty or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while processes() and time.monotonic() < deadline:
        time.sleep(0.5)


def describe(process: psutil.Process) -> str:
    try:
        return f"{process.pid}: {' '.join(process.cmdline())}"
    except psutil.Error:
        return f"{process.pid}: (gone)"


def create_sandbox(
    root: Path,
    pycache: Path,
    *,
    pipelines: Sequence[str],
    families: Sequence[str],
    records: int = SAMPLE_RECORDS,
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
        MARKER: str(root),
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
        # One backtest cut instead of six: two refits per repro, not twelve.
        if "backtest" in params:
            params["backtest"]["cut_years"] = [2019]
        # Shrink the hyper-parameter search after the grid, if the project has one.
        small_search = {
            "n_trials": 2,
            "cv_folds": 2,
            "top_families": 1,
            "temporal_cut_years": [2019],
        }
        for key, small in small_search.items():
            if key in params.get("tune", {}):
                params["tune"][key] = small

    sandbox.set_params(shrink)
    sandbox.run("git", "init", "-q", "-b", "main")
    sandbox.dvc("init", "-q")
    # the project's own plot templates (dvc.yaml's plots name them)
    shutil.copytree(REPO_ROOT / ".dvc" / "plots", root / ".dvc" / "plots")
    sandbox.commit("sample project")
    return sandbox
