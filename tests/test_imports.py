"""The installed namespace (restore/, priors/, operators/, benchmarks/) imports without circles.

Every import of a `restore.*` module counts, also one inside a function and a relative one;
`importlib.import_module` (restore/__init__'s lazy loading, PEP 562) does not. An import of a
module also counts the packages above it, whose __init__ runs first (importing
restore.priors.ddpm runs restore/__init__.py and priors/__init__.py), except the package the
importer itself is in (or is): that one is already being imported when the importer runs, and a
package __init__ that gathers its submodules, which import each other, is no circle.
"""
import ast
import importlib.util
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """{module name: file} of the packages pyproject.toml installs, placed by its package-dir."""
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = cfg.get("package-dir", {})
    files = {}
    for pkg in cfg["packages"]:
        parts = pkg.split(".")
        head = max((i for i in range(len(parts) + 1) if ".".join(parts[:i]) in dirs), default=0)
        folder = root / dirs.get(".".join(parts[:head]), "") / Path(*parts[head:])
        for f in sorted(folder.glob("*.py")):
            files[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return files


def _imported(name: str, file: Path, known) -> set[str]:
    """The restore modules `file` (module `name`) imports, anywhere in it, without the packages above."""
    here = name if file.stem == "__init__" else name.rpartition(".")[0]  # where `from .` starts
    out = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{pkg}.{base}" if base else pkg
            # `from P import x`: the submodule P.x when there is one, else (a name) P itself
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t == "restore" or t.startswith("restore.")}
    return out


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """{module: modules whose code runs when it runs its imports} (module docstring)."""
    graph = {}
    for name, file in files.items():
        here = name if file.stem == "__init__" else name.rpartition(".")[0]
        edges = set()
        for target in _imported(name, file, files):
            edges.add(target)
            parts = target.split(".")
            edges |= {p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p != here}
        graph[name] = {t for t in edges if t in files and t != name}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def _shortest_cycle(graph: dict[str, set[str]], start: str) -> list[str] | None:
    paths, queue = {start: [start]}, [start]  # breadth first
    while queue:
        node = queue.pop(0)
        if start in graph[node]:
            return paths[node] + [start]
        for nxt in sorted(graph[node] - paths.keys()):
            paths[nxt] = paths[node] + [nxt]
            queue.append(nxt)
    return None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The shortest cycle (a -> b -> a) through each module that is on one, each cycle once."""
    found = {}
    for start in sorted(graph):
        c = _shortest_cycle(graph, start)
        if c is not None:
            found.setdefault(frozenset(c), c)
    return sorted(found.values(), key=len)


def test_the_module_map_is_the_installed_one():
    files = module_files()
    assert files["restore.priors.ddpm"] == ROOT / "priors" / "ddpm.py"
    assert files["restore.solvers"] == ROOT / "restore" / "solvers" / "__init__.py"
    for name, file in files.items():
        assert Path(importlib.util.find_spec(name).origin).resolve() == file.resolve(), name


def test_no_import_cycles():
    found = cycles(import_graph(module_files()))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_a_circle_hidden_in_a_function_is_found(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools]\npackages = ["restore", "restore.sub"]\n'
                                             '[tool.setuptools.package-dir]\n"restore.sub" = "sub"\n')
    (tmp_path / "restore").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "restore" / "__init__.py").write_text(
        "def __getattr__(name):\n    from importlib import import_module\n    return import_module('restore.top')\n")
    (tmp_path / "restore" / "top.py").write_text("from restore.sub import a\n")
    (tmp_path / "sub" / "__init__.py").write_text("from .a import f\nfrom .b import g\n")
    (tmp_path / "sub" / "a.py").write_text("from .b import g\ndef f():\n    return g()\n")
    (tmp_path / "sub" / "b.py").write_text("def g():\n    from . import a\n    return a\n")
    graph = import_graph(module_files(tmp_path))
    assert graph["restore.sub.a"] == {"restore.sub.b", "restore"} and graph["restore"] == set()
    assert cycles(graph) == [["restore.sub.a", "restore.sub.b", "restore.sub.a"]]
    (tmp_path / "sub" / "b.py").write_text("def g():\n    import restore\n")
    assert cycles(import_graph(module_files(tmp_path))) == []  # restore/__init__ loads top lazily
    (tmp_path / "restore" / "__init__.py").write_text("from .top import a\n")
    found = cycles(import_graph(module_files(tmp_path)))  # the package loop: sub imports restore/__init__
    assert found[0] == ["restore", "restore.top", "restore.sub", "restore"] and len(found) == 3


def test_the_installed_benchmark_is_what_restore_bench_runs():
    """restore.benchmarks holds `restore bench` and what it imports, and the measures of issue 32
    item 1 that lab/ scores with (perceptual, lpips, fid): at most 12 modules; the experiments
    live in lab/ (not installed), which no installed module may import."""
    files = module_files()
    bench = {n: f for n, f in files.items() if n == "restore.benchmarks" or n.startswith("restore.benchmarks.")}
    assert "restore.benchmarks.bench" in bench and len(bench) <= 12, sorted(bench)
    for name, file in files.items():
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(m == "lab" or m.startswith("lab.") for m in mods), f"{name} imports {mods}"
