"""Property-based fuzzing of the live server from its own OpenAPI schema: no input makes it 5xx."""

import re
import subprocess
import sys

import pytest
from conftest import LiveServer, wait_until_settled
from schemathesis.core.warnings import SchemathesisWarning

pytestmark = pytest.mark.e2e

# Every warning but "validation mismatch" (all of an operation's schema-valid cases in a phase
# rejected). Some limits cannot be written in JSON Schema (the number of genres, the batch-size
# cap and the body-size limit are settings), so when the time limit cuts a phase short a batch
# of schema-valid movies can draw only rejected ones; the limits JSON Schema can carry are in
# the schema as patterns, checked against the validators by test_serving_schemas.py.
WARNINGS = ",".join(
    w.value for w in SchemathesisWarning if w is not SchemathesisWarning.VALIDATION_MISMATCH
)


def test_no_server_errors_under_schemathesis(server: LiveServer, tmp_path):
    assert wait_until_settled(server).status_code == 200
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "7",
        "--phases", "examples,coverage,fuzzing", "--workers", "1", "--max-time", "20",
        "--request-timeout", "30",
        "--suppress-health-check", "all", "--no-shrink", "--warnings", WARNINGS,
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "No issues found" in output, output[-3000:]
    assert re.search(r"[1-9]\d* passed", output), output[-2000:]
