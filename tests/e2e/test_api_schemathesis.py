"""Property-based fuzzing of the live server from its own OpenAPI schema: no input makes it 5xx."""

import re
import subprocess
import sys

import pytest
from conftest import LiveServer, wait_until_settled

pytestmark = pytest.mark.e2e


def test_no_server_errors_under_schemathesis(server: LiveServer, tmp_path):
    assert wait_until_settled(server).status_code == 200
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "7",
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--max-time", "20",
        "--request-timeout", "30",
        "--suppress-health-check", "all", "--no-shrink",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "No issues found" in output, output[-3000:]
    assert re.search(r"[1-9]\d* passed", output), output[-2000:]
