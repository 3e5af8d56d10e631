"""The structure the code promises, checked from the code itself.

- The package's layers (pyproject.toml's import-linter contracts) hold.
- A module of the package is imported inside a function only to defer an optional dependency.
- Every `dvc.yaml` stage lists, under `deps`, every file of the package its script runs: a
  stage whose script imports a module it does not list would be skipped by `dvc repro` after
  an edit of that module, and reuse stale outputs.
- GTO's `artifacts` entry (which DVC does not interpolate) names the file `paths.model` writes.
"""

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grimp
import pytest
import yaml

from movie_rating.artifact import CARD_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "movie_rating"
# Optional dependency groups' packages, not in the serving image: the `registry` group's
# mlflow, the `pipeline` group's optuna and vl-convert. A module of ours that imports one (at
# its top or through our other modules) may be imported inside a function, so that the
# service and the CLIs run without that group.
OPTIONAL_PACKAGES = frozenset({"mlflow", "optuna", "vl_convert", "distributed", "dask"})


def test_import_layers_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def _imports(node: ast.AST) -> Iterator[str]:
    """Modules of the package an import statement names (`from a import b`: a.b if that is
    a module, else a)."""
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
        for alias in node.names:
            submodule = f"{node.module}.{alias.name}"
            yield submodule if _is_module(submodule) else str(node.module)
    elif isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name.startswith(PACKAGE))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False


def _function_imports(path: Path) -> Iterator[str]:
    """Modules of the package imported inside a function of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                yield from _imports(node)


def _top_level_imports(module: str) -> set[str]:
    tree = ast.parse(Path(_module_file(module)).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names


def _needs_optional_package(module: str) -> bool:
    """Whether importing `module` imports an optional package, itself or through the package."""
    graph = grimp.build_graph(PACKAGE)
    modules = {module, *graph.find_upstream_modules(module)}
    return any(_top_level_imports(name) & OPTIONAL_PACKAGES for name in modules)


def test_function_level_imports_only_defer_optional_dependencies() -> None:
    hidden = {
        f"{path.relative_to(REPO_ROOT)} imports {module}"
        for path in sorted((REPO_ROOT / "src" / PACKAGE).rglob("*.py"))
        for module in _function_imports(path)
        if not _needs_optional_package(module)
    }
    assert not hidden, "imports inside functions (hiding a cycle?):\n" + "\n".join(sorted(hidden))


# --- dvc.yaml deps derived from the code ----------------------------------------------------


def _stage_script(stage: Mapping[str, Any]) -> str:
    body = stage.get("do", stage)
    scripts = [word for word in str(body["cmd"]).split() if word.startswith("stages/")]
    assert len(scripts) == 1, f"a stage runs one script: {body['cmd']}"
    return scripts[0]


def _imported_modules(script: Path) -> set[str]:
    """Modules of the package the script imports, directly or through other modules, with
    every package whose `__init__` runs on the way."""
    graph = grimp.build_graph(PACKAGE)
    tree = ast.parse(script.read_text(encoding="utf-8"))
    direct = {module for node in ast.walk(tree) for module in _imports(node)}
    modules = set(direct)
    for module in direct:
        modules |= graph.find_upstream_modules(module)
    for module in list(modules):
        parts = module.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return modules


def _module_file(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).resolve().relative_to(REPO_ROOT).as_posix()


def missing_deps(dvc_yaml: Mapping[str, Any], root: Path) -> dict[str, list[str]]:
    """Per stage of `dvc_yaml`: files of the package its script runs that no dep covers."""
    missing: dict[str, list[str]] = {}
    for name, stage in dvc_yaml["stages"].items():
        body = stage.get("do", stage)
        deps = [str(dep) for dep in body.get("deps", [])]
        script = _stage_script(stage)
        files = {_module_file(module) for module in _imported_modules(root / script)}
        uncovered = sorted(
            f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)
        )
        if script not in deps:
            uncovered.insert(0, script)
        if uncovered:
            missing[name] = uncovered
    return missing


@pytest.fixture(scope="module")
def dvc_yaml() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def test_every_stage_lists_the_code_it_runs(dvc_yaml: dict[str, Any]) -> None:
    assert missing_deps(dvc_yaml, REPO_ROOT) == {}


def test_a_dropped_dep_is_found(dvc_yaml: dict[str, Any]) -> None:
    """The check has teeth: without `src/movie_rating/data`, export misses the data files."""
    export = dvc_yaml["stages"]["export"]
    export["deps"] = [dep for dep in export["deps"] if dep != "src/movie_rating/data"]
    found = missing_deps(dvc_yaml, REPO_ROOT)
    assert "src/movie_rating/data/schema.py" in found["export"]


def test_gto_artifact_is_the_exported_model(dvc_yaml: dict[str, Any]) -> None:
    paths = next(v["paths"] for v in dvc_yaml["vars"] if isinstance(v, dict) and "paths" in v)
    model = Path(paths["model"])
    assert dvc_yaml["artifacts"] == {
        model.stem: {**dvc_yaml["artifacts"][model.stem], "path": model.as_posix()}
    }
    assert Path(paths["model_card"]) == model.parent / CARD_FILE
