"""`movie-rating`, the console command: one entry for what users run, each with an example."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from movie_rating.__main__ import COMMANDS

COMMAND = Path(sys.executable).parent / "movie-rating"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"$ uv run movie-rating --help\n{result.stdout}" in readme, "README shows old help"
    assert {"predict", "serve", "register", "tune-worker", "compare", "report"} <= set(COMMANDS)
    for name in COMMANDS:
        assert f"\n  {name} " in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_its_own_help(name):
    result = run(name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: movie-rating {name}")
    example = result.stdout.lower().split("example")[1]  # "example:" or "examples ...:"
    assert re.search(rf"movie-rating {name}\b", example), result.stdout


def test_an_unknown_command_is_one_clear_error():
    result = run("train")
    assert result.returncode == 2
    assert "invalid choice: 'train'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failing_command_says_why_in_one_line(tmp_path):
    result = run("predict", "--models-dir", str(tmp_path), "--title", "X",
                 "--original-language", "en", "--release-date", "2020-01-01")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: no model_card.json")
    assert "Traceback" not in result.stderr and str(tmp_path) not in result.stderr


def test_serve_refuses_bad_settings_and_arguments_before_starting(monkeypatch):
    monkeypatch.setenv("MOVIE_RATING_MAX_BATCH_SIZE", "many")
    monkeypatch.setenv("MOVIE_RATING_API_KEY", "s3cret-key")  # valid: never shown either way
    monkeypatch.setenv("MOVIE_RATING_LOG_LEVEL", "loud")
    result = run("serve", "--port", "8765")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: invalid settings: MOVIE_RATING_MAX_BATCH_SIZE: ")
    assert "MOVIE_RATING_LOG_LEVEL: " in line and "s3cret" not in line
    monkeypatch.delenv("MOVIE_RATING_MAX_BATCH_SIZE")
    monkeypatch.delenv("MOVIE_RATING_LOG_LEVEL")
    result = run("serve", "--port", "99999")  # the socket layer would take it modulo 65,536
    assert result.returncode == 2 and "--port must be 0-65535, got 99999" in result.stderr
