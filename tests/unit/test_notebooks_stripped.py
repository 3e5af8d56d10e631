"""Notebooks are committed without outputs, so diffs show code and git holds no stale results."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert {p.name for p in NOTEBOOKS} >= {"01_eda.ipynb", "02_experiments.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_and_stripped(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; run `uv run nbstripout {path}`"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbstripout_would_not_change_the_notebook(path, tmp_path):
    """The pre-commit hook is a no-op on what is committed (outputs, metadata and cell ids)."""
    pytest.importorskip("nbstripout")
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    subprocess.run(
        [sys.executable, "-m", "nbstripout", str(copy)], check=True, capture_output=True, timeout=60
    )
    assert copy.read_bytes() == path.read_bytes(), f"run `uv run nbstripout {path}`"
