"""Execute the notebooks on the pipeline's outputs and render them as Markdown with PNG figures.

Why Markdown + PNG files: GitHub shows a `.md` file rendered, with its images inline and
pandas' HTML tables as tables, and a diff names the figure that changed. An `.html` file is
shown on GitHub as source (one would have to download it), and an executed `.ipynb` puts
base64 images, execution counts and kernel metadata into git.

Reproducible to the byte, so `dvc repro --force` elsewhere rewrites the same files:

- The kernel is this interpreter (`sys.executable -m ipykernel_launcher`), not whatever
  `python` is first on PATH, with `PYTHONHASHSEED=0`, matplotlib's own default rc (a user's
  matplotlibrc is ignored) and the inline backend, which draws with Agg.
- Figures are PNGs without the "Software: Matplotlib version..." text chunk, so a matplotlib
  release that draws the same pixels writes the same bytes; Agg draws with the fonts bundled
  with matplotlib. A figure's file is named by its cell and output index.
- The Markdown has no execution counts, timings, kernel or session ids (none are rendered),
  and no trailing blanks on a line.
- A stream is split into several outputs when the kernel flushes it mid-cell (a timer):
  adjacent outputs of one stream are merged, so timing cannot change the text.
- Any path of this machine in an output (a warning names its source file, an error its
  traceback) is refused with the cell it came from: print paths relative to the repository.
"""

import importlib
import json
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbconvert import MarkdownExporter
from nbformat import NotebookNode
from traitlets.config import Config

from movie_rating.errors import MovieRatingError
from movie_rating.outputs import write_bytes, write_text

logger = logging.getLogger(__name__)

CELL_TIMEOUT_SECONDS = 600
# matplotlib-inline's default plus no Software chunk (metadata=None drops a key from the PNG).
PRINT_FIGURE_KWARGS = {"bbox_inches": "tight", "metadata": {"Software": None}}
# pandas' HTML tables open with a <style> block; GitHub drops the tag and shows its CSS as text.
STYLE_BLOCK = re.compile(r"<style[^>]*>.*?</style>\s*", re.DOTALL)


class ThisInterpreterKernel(KernelManager):
    """A kernel manager whose kernel is this process's interpreter, whatever the notebook's
    kernelspec and PATH say."""

    @property
    def kernel_spec(self) -> KernelSpec:
        """`sys.executable -m ipykernel_launcher`, with the environment that fixes the output."""
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python {sys.version_info.major}.{sys.version_info.minor}",
            language="python",
            env=kernel_env(),
        )


def kernel_env() -> dict[str, str]:
    """Variables set in the kernel on top of this process's environment."""
    return {
        # The inline backend: Agg drawing, figures sent to the notebook as PNG.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MATPLOTLIBRC": str(Path(matplotlib.get_data_path()) / "matplotlibrc"),
        "PYTHONHASHSEED": "0",
    }


def execute(path: Path, cwd: Path | None = None) -> NotebookNode:
    """Run every cell of the notebook at `path` in a fresh kernel, in `cwd` (default: the
    notebook's folder, as Jupyter does); a cell that raises raises CellExecutionError."""
    notebook = nbformat.read(path, as_version=4)
    load_font_cache()
    with tempfile.TemporaryDirectory(prefix="ipython-") as ipython_dir:
        # No IPython profile or startup script of this machine's user runs in the kernel,
        # which is reached over Unix sockets in that private folder (`ipc`), not over TCP
        # ports that any local user could connect to.
        sockets = str(Path(ipython_dir) / "kernel")
        client = NotebookClient(
            notebook,
            kernel_manager_class=ThisInterpreterKernel,
            config=Config({"KernelManager": {"transport": "ipc", "ip": sockets}}),
            timeout=CELL_TIMEOUT_SECONDS,
            record_timing=False,
            extra_arguments=[
                f"--ipython-dir={ipython_dir}",
                f"--InlineBackend.print_figure_kwargs={PRINT_FIGURE_KWARGS!r}",
            ],
            resources={"metadata": {"path": str(cwd or path.parent)}},
        )
        client.execute()
    merge_adjacent_streams(notebook)
    return notebook


def load_font_cache() -> None:
    """Build matplotlib's font cache here, if this machine has none yet, not in the kernel:
    there, "Matplotlib is building the font cache" (logged when that takes over 5 s, as on a
    fresh machine with many fonts) would become an output of the first cell that plots."""
    importlib.import_module("matplotlib.font_manager")  # its import builds or loads the cache


def merge_adjacent_streams(notebook: NotebookNode) -> None:
    """Join each run of consecutive outputs of one stream (stdout, stderr) into one output."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged: list[Any] = []
        for output in cell.outputs:
            previous = merged[-1] if merged else None
            if (
                previous is not None
                and output.output_type == "stream"
                and previous.output_type == "stream"
                and previous.name == output.name
            ):
                previous.text += output.text
            else:
                merged.append(output)
        cell.outputs = merged


def strip_html_styles(notebook: NotebookNode) -> None:
    """Drop <style> blocks from HTML outputs (pandas' tables) that GitHub would show as text."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is not None:
                output.data["text/html"] = STYLE_BLOCK.sub("", html)


def to_markdown(notebook: NotebookNode, stem: str) -> tuple[str, dict[str, bytes]]:
    """The notebook as Markdown, and its figures: relative file name -> PNG bytes. The Markdown
    links each figure as `<stem>_files/<stem>_<cell>_<output>.png`."""
    strip_html_styles(notebook)
    body, resources = MarkdownExporter().from_notebook_node(
        notebook, resources={"unique_key": stem, "output_files_dir": f"{stem}_files"}
    )
    # No trailing blanks (the template pads lines around figures; printed frames pad columns):
    # a whitespace hook in an editor or pre-commit would otherwise rewrite the committed file.
    text = "\n".join(line.rstrip() for line in body.splitlines()).strip("\n") + "\n"
    return text, dict(sorted(resources["outputs"].items()))


def machine_paths(*paths: Path) -> list[str]:
    """Absolute paths that mark output as written on this machine: `paths`, the working
    directory, the interpreter's prefix, the home and temporary folders."""
    candidates = [*paths, Path.cwd(), Path(sys.prefix), Path.home(), Path(tempfile.gettempdir())]
    found = {str(p.resolve()) for p in candidates} | {str(p) for p in candidates}
    return sorted(p for p in found if p != "/")


def check_no_machine_paths(notebook: NotebookNode, forbidden: Iterable[str], name: str) -> None:
    """Raise MovieRatingError naming the first cell whose output holds a path of `forbidden`."""
    forbidden = list(forbidden)
    for index, cell in enumerate(notebook.cells):
        text = json.dumps(cell.get("outputs", []), ensure_ascii=False)
        for path in forbidden:
            if path in text:
                raise MovieRatingError(
                    f"{name}: the output of cell {index} contains {path!r}, a path of this "
                    "machine (a warning or a printed absolute path): the rendering would "
                    "differ elsewhere; fix the cell"
                )


def render(path: Path, out_dir: Path, cwd: Path | None = None) -> NotebookNode:
    """Execute the notebook at `path` (in `cwd`, see `execute`) and write `<stem>.md` and
    `<stem>_files/*.png` under `out_dir`, replacing an earlier rendering; return the executed
    notebook."""
    notebook = execute(path, cwd)
    check_no_machine_paths(notebook, machine_paths(path.parent, cwd or path.parent), path.name)
    body, figures = to_markdown(notebook, path.stem)
    shutil.rmtree(out_dir / f"{path.stem}_files", ignore_errors=True)
    markdown = out_dir / f"{path.stem}.md"
    write_text(markdown, body)
    for name, data in figures.items():
        write_bytes(out_dir / name, data)
    logger.info("%s -> %s (%d figures)", path, markdown, len(figures))
    return notebook


def render_all(notebooks_dir: Path, out_dir: Path) -> list[Path]:
    """Render every `*.ipynb` of `notebooks_dir` (in name order) into `out_dir`, each run in
    its own folder; return the Markdown files."""
    notebooks = sorted(notebooks_dir.glob("*.ipynb"))
    if not notebooks:
        raise MovieRatingError(f"no notebooks (*.ipynb) in {notebooks_dir}")
    for path in notebooks:
        render(path, out_dir)
    return [out_dir / f"{path.stem}.md" for path in notebooks]
