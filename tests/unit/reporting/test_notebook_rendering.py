"""Rendering notebooks to Markdown + PNG without a kernel, and the committed rendering itself.

The kernel side (execution, byte-identical reruns) is in tests/e2e/test_notebooks.py.
"""

import ast
import base64
import importlib.util
import re
import struct
import zlib
from pathlib import Path

import grimp
import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from movie_rating.errors import MovieRatingError
from movie_rating.reporting.notebooks import (
    check_no_machine_paths,
    machine_paths,
    merge_adjacent_streams,
    to_markdown,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def png_chunks(data: bytes) -> list[str]:
    """The chunk types of a PNG file, in order."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        chunks.append(data[offset + 4 : offset + 8].decode("ascii"))
        offset += 12 + length
    return chunks


def stream(name: str, text: str):
    return new_output("stream", name=name, text=text)


def figure_output():
    return new_output(
        "display_data",
        data={"image/png": base64.b64encode(tiny_png()).decode(), "text/plain": "<Figure>"},
    )


def test_adjacent_outputs_of_one_stream_are_merged_in_order():
    cell = new_code_cell(
        "",
        outputs=[
            stream("stdout", "a\n"),
            stream("stdout", "b\n"),
            figure_output(),
            stream("stdout", "c\n"),
            stream("stderr", "w\n"),
            stream("stderr", "x\n"),
            stream("stdout", "d\n"),
        ],
    )
    notebook = new_notebook(cells=[new_markdown_cell("# t"), cell])
    merge_adjacent_streams(notebook)
    kinds = [(o.output_type, o.get("name"), o.get("text")) for o in notebook.cells[1].outputs]
    assert kinds == [
        ("stream", "stdout", "a\nb\n"),
        ("display_data", None, None),
        ("stream", "stdout", "c\n"),
        ("stream", "stderr", "w\nx\n"),
        ("stream", "stdout", "d\n"),
    ]


def test_markdown_links_each_figure_by_cell_and_output_index():
    style = "<style scoped>\n  .dataframe th {\n  }\n</style>\n"
    html = f"<div>\n{style}<table><tr><td>1</td></tr></table>"
    notebook = new_notebook(
        cells=[
            new_markdown_cell("# Title"),
            new_code_cell(
                "print('hi')",
                outputs=[
                    stream("stdout", "hi   \n"),
                    figure_output(),
                    new_output("display_data", data={"text/html": html, "text/plain": "df"}),
                ],
            ),
        ]
    )
    body, figures = to_markdown(notebook, "03_demo")
    assert figures == {"03_demo_files/03_demo_1_1.png": tiny_png()}
    assert png_chunks(tiny_png()) == ["IHDR", "IDAT", "IEND"]
    assert IMAGE_LINK.findall(body) == ["03_demo_files/03_demo_1_1.png"]
    assert "<table>" in body
    assert "<style" not in body
    assert ".dataframe" not in body  # GitHub would show the CSS as text
    assert "    hi\n" in body
    assert all(line == line.rstrip() for line in body.splitlines())
    assert body.endswith("\n") and not body.endswith("\n\n")


def test_an_output_with_a_path_of_this_machine_is_refused(tmp_path):
    here = machine_paths(tmp_path)
    assert str(tmp_path.resolve()) in here
    assert "/" not in here
    clean = new_code_cell("", outputs=[stream("stdout", "data/processed/train.csv\n")])
    warned = new_code_cell(
        "", outputs=[stream("stderr", f"{tmp_path}/x.py:3: FutureWarning: soon\n")]
    )
    check_no_machine_paths(new_notebook(cells=[clean]), here, "ok.ipynb")
    with pytest.raises(MovieRatingError, match=r"bad.ipynb: the output of cell 1 contains"):
        check_no_machine_paths(new_notebook(cells=[clean, warned]), here, "bad.ipynb")


# --- the committed rendering (reports/notebooks, written by the `render` stage) --------------


def dvc_yaml() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def rendered_dir() -> Path:
    paths = next(v["paths"] for v in dvc_yaml()["vars"] if isinstance(v, dict) and "paths" in v)
    return REPO_ROOT / paths["rendered_notebooks"]


NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))


def notebook_imports(path: Path) -> set[str]:
    """Modules of the package that the notebook's code cells import (magics skipped)."""
    modules: set[str] = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("movie_rating"):
                modules.add(str(node.module))
            elif isinstance(node, ast.Import):
                modules.update(a.name for a in node.names if a.name.startswith("movie_rating"))
    return modules


def uncovered(modules: set[str], deps: list[str]) -> list[str]:
    """Files of `modules` (and of the packages whose `__init__` they run) under no dep."""
    names = {".".join(m.split(".")[:i]) for m in modules for i in range(1, len(m.split(".")) + 1)}
    files = set()
    for name in names:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        files.add(Path(spec.origin).resolve().relative_to(REPO_ROOT).as_posix())
    return sorted(
        f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)
    )


def test_render_stage_lists_the_package_code_the_notebooks_import():
    """The architecture test follows the stage script's imports; the notebooks' are here."""
    deps = [str(dep) for dep in dvc_yaml()["stages"]["render"]["deps"]]
    graph = grimp.build_graph("movie_rating")
    imported = {m for path in NOTEBOOKS for m in notebook_imports(path)}
    modules = imported | {u for m in imported for u in graph.find_upstream_modules(m)}
    assert uncovered(modules, deps) == []
    # the check has teeth: 01_eda reads the clean split with movie_rating.data
    assert "movie_rating.data.split" in imported
    without_data = [dep for dep in deps if dep != "src/movie_rating/data"]
    assert "src/movie_rating/data/split.py" in uncovered(modules, without_data)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_rendering_shows_the_figures_and_nothing_of_the_machine(notebook):
    markdown = rendered_dir() / f"{notebook.stem}.md"
    assert markdown.is_file(), "run `dvc repro render`"
    body = markdown.read_text(encoding="utf-8")
    links = IMAGE_LINK.findall(body)
    figures = sorted((rendered_dir() / f"{notebook.stem}_files").glob("*"))
    cells = nbformat.read(notebook, as_version=4).cells
    assert links, "no figures rendered"
    assert sorted(links) == sorted(f.relative_to(rendered_dir()).as_posix() for f in figures)
    for figure in figures:
        chunks = png_chunks(figure.read_bytes())
        assert chunks[-1] == "IEND", figure.name
        # no text (matplotlib's version) and no modification time
        assert not {"tEXt", "iTXt", "zTXt", "tIME"} & set(chunks), (figure.name, chunks)
    assert "Finding:" in body
    assert all(cell.source.splitlines()[0] in body for cell in cells if cell.source)
    assert not TIMESTAMP.search(body)
    leaked = [path for path in machine_paths(REPO_ROOT) if path in body]
    assert not leaked


def test_every_rendering_has_its_notebook():
    rendered = {p.stem for p in rendered_dir().glob("*.md")}
    assert rendered == {p.stem for p in NOTEBOOKS}
