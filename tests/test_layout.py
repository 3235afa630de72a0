"""The package's layout holds: no import cycle anywhere in tuner/, every module imports
on its own in a fresh interpreter, and no ``tuner:*`` key is spelled outside tuner.keys."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "tuner"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The tuner modules ``name`` imports, at module level or inside functions (a lazy
    import is still a dependency); imports under ``if TYPE_CHECKING:`` are not."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = {id(n) for block in ast.walk(tree) if _type_checking_only(block)
            for n in ast.walk(block)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from tuner import keys` imports the module tuner.keys
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` as [a, b, ..., a], or None. A module importing its own
    package (tuner.x -> tuner, whose __init__ imports nothing of it) is not a cycle unless
    the package imports it back, which the walk sees like any other edge."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


@pytest.mark.unit
def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.unit
def test_the_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from tuner.c import C\n"
                      "def f():\n    from tuner import keys\n    from .b import g\n")
    assert imports_of("tuner.x", source, {"tuner", "tuner.keys", "tuner.b", "tuner.c"}) == \
        {"tuner.keys", "tuner.b"}


@pytest.mark.unit
def test_no_import_cycle_in_tuner() -> None:
    graph = import_graph()
    assert "tuner.versions" in graph and "tuner.keys" in graph["tuner.versions"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in tuner/: {' -> '.join(cycle)}"


@pytest.mark.integration
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    names = [n for n in modules() if n not in ("tuner.__main__",)]
    procs = {n: subprocess.Popen([sys.executable, "-c", f"import {n}"], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in names}
    failed = {}
    for n, p in procs.items():
        _, err = p.communicate(timeout=300)
        if p.returncode:
            failed[n] = err.strip().splitlines()[-1] if err.strip() else p.returncode
    assert not failed, f"modules that do not import on their own: {failed}"


@pytest.mark.unit
def test_tuner_keys_are_spelled_only_in_tuner_keys() -> None:
    # A quoted string that starts with "tuner:" and then a key name.
    key = re.compile(r"""["']tuner:[a-z_]+["']""")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in PACKAGE.rglob("*.py")
                 if path.name != "keys.py"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if key.search(line)]
    assert not offenders, f"raw tuner:* keys outside tuner/keys.py: {offenders}"
