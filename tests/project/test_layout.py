"""The package's layout holds: no import cycle anywhere in tuner/, every module imports
on its own in a fresh interpreter, no ``tuner:*`` key is spelled outside tuner.keys, and
the tests of every module are found by its name (tests/README.md)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "tuner"
TESTS = ROOT / "tests"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, known: set[str], *,
               type_hints: bool = False) -> set[str]:
    """The tuner modules ``name`` imports, at module level or inside functions (a lazy
    import is still a dependency); imports under ``if TYPE_CHECKING:`` only with
    ``type_hints`` (a reader, and a type checker, follows them too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set() if type_hints else {id(n) for block in ast.walk(tree)
                                     if _type_checking_only(block) for n in ast.walk(block)}
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


def import_graph(*, type_hints: bool = False) -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known, type_hints=type_hints)
            for name, path in mods.items()}


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
    assert imports_of("tuner.x", source, {"tuner", "tuner.keys", "tuner.b", "tuner.c"},
                      type_hints=True) == {"tuner.keys", "tuner.b", "tuner.c"}


@pytest.mark.unit
def test_no_import_cycle_in_tuner() -> None:
    graph = import_graph()
    assert "tuner.versions" in graph and "tuner.keys" in graph["tuner.versions"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in tuner/: {' -> '.join(cycle)}"


@pytest.mark.unit
def test_no_import_cycle_in_tuner_type_hint_imports_included() -> None:
    """A type-hint import is a dependency a reader follows: the layers hold for it too
    (a hint on the parsed study file names tuner.spec.schema, not the tuner.spec package,
    whose parser validates with the data layer's checks)."""
    cycle = find_cycle(import_graph(type_hints=True))
    assert cycle is None, f"import cycle in tuner/ (type hints included): {' -> '.join(cycle)}"


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


def _storage_attributes() -> set[str]:
    """Every attribute `TunerStorage` sets on itself or defines in its class body."""
    tree = ast.parse((PACKAGE / "storage" / "_storage.py").read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TunerStorage"]
    names = {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets
             if isinstance(t, ast.Name)}
    names |= {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    names |= {t.attr for n in ast.walk(cls) if isinstance(n, (ast.Assign, ast.AugAssign))
              for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
              if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
              and t.value.id == "self"}
    return names


@pytest.mark.unit
def test_no_attribute_of_the_storage_is_set_from_outside_its_package() -> None:
    """Modes are entered (``with storage.budget():``), not switched by flags: outside
    tuner/storage/, nothing assigns an attribute the storage has, or any attribute of
    something named like a storage."""
    own = _storage_attributes() | {"enforce_quota", "lean_bookkeeping"}
    assert {"_lean", "_outage", "_budgeted", "budget", "lean"} <= own
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "storage"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign))
                       else [])
            for t in targets:
                if isinstance(t, ast.Attribute) and (
                        t.attr in own or "storage" in ast.unparse(t.value).lower()):
                    offenders.append(f"{path.relative_to(ROOT)}:{t.lineno} {ast.unparse(t)}")
    assert not offenders, f"storage attributes set from outside tuner/storage/: {offenders}"


# --- where the tests of a module are --------------------------------------------------------
# The tests of tuner/X.py are in tests/test_X.py, of tuner/PKG/Y.py in tests/PKG/test_Y.py;
# a private module's underscore is dropped (tuner/storage/_lean.py: tests/storage/test_lean.py).
# A package's __init__.py re-exports its modules' names and has no test file of its own;
# tests/PKG/test_PKG.py may test a package as a whole.

# Modules with nothing of their own to test.
NO_TESTS = {
    "tuner/__main__.py": "`python -m tuner` is one call to tuner.cli.main",
    "tuner/keys.py": "names only; test_tuner_keys_are_spelled_only_in_tuner_keys guards them",
}

# Modules whose tests live in another module's file until someone splits it, each with
# the file. The CLI modules are a skin: each command is tested through the module it calls.
TESTED_IN = {
    "tuner/cli/model.py": "tests/test_train.py",
    "tuner/cli/reading.py": "tests/test_study.py",
    "tuner/cli/tuning.py": "tests/test_run.py",
    "tuner/report/collect.py": "tests/report/test_report.py",
    "tuner/report/html.py": "tests/report/test_report.py",
    "tuner/report/matplotlib_figures.py": "tests/report/test_report.py",
    "tuner/report/plotly_figures.py": "tests/report/test_report.py",
    "tuner/report/series.py": "tests/report/test_report.py",
}


def mirrored_test_file(module: Path) -> Path:
    """Where the tests of ``module`` (a path under tuner/) are by the layout's rule."""
    rel = module.relative_to(PACKAGE)
    return TESTS.joinpath(*rel.parts[:-1], f"test_{rel.stem.lstrip('_')}.py")


@pytest.mark.unit
def test_the_rule_mirrors_packages_and_drops_a_private_underscore() -> None:
    assert mirrored_test_file(PACKAGE / "table.py") == TESTS / "test_table.py"
    assert mirrored_test_file(PACKAGE / "storage" / "_lean.py") == \
        TESTS / "storage" / "test_lean.py"


@pytest.mark.unit
def test_every_module_has_its_test_file_at_the_mirrored_place() -> None:
    lost = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" or name in NO_TESTS:
            continue
        if name in TESTED_IN:
            assert (ROOT / TESTED_IN[name]).is_file(), f"{name}: {TESTED_IN[name]} is gone"
        elif not mirrored_test_file(path).is_file():
            lost.append(f"{name}: {mirrored_test_file(path).relative_to(ROOT)}")
    assert not lost, ("modules without a test file where the layout puts it (move their "
                      "tests there, or write some):\n  " + "\n  ".join(lost))


@pytest.mark.unit
def test_the_exceptions_name_modules_that_exist_and_have_no_test_file() -> None:
    """A module renamed or given its own test file leaves its exception behind: drop it."""
    for name in [*NO_TESTS, *TESTED_IN]:
        assert (ROOT / name).is_file(), f"{name} is no module any more: drop its exception"
        assert not mirrored_test_file(ROOT / name).is_file(), \
            f"{name} has {mirrored_test_file(ROOT / name).relative_to(ROOT)}: drop its exception"


@pytest.mark.unit
def test_every_test_file_is_named_after_a_module_or_sits_in_a_folder_of_its_own() -> None:
    """A test file next to the mirrored ones names a module, or a package as a whole
    (tests/report/test_report.py); tests across modules go in a folder named by what they
    check (system/, fuzz/, docker/, benchmarks/, project/)."""
    mirrored = {PACKAGE / p.name for p in PACKAGE.iterdir() if p.is_dir()}
    strays = []
    for test in sorted(TESTS.rglob("test_*.py")):
        folder = PACKAGE.joinpath(*test.relative_to(TESTS).parts[:-1])
        if folder != PACKAGE and folder not in mirrored:
            continue  # a folder of its own
        stem = test.stem.removeprefix("test_")
        if folder != PACKAGE and stem == folder.name:
            continue
        if not any((folder / f"{prefix}{stem}.py").is_file() for prefix in ("", "_")):
            strays.append(test.relative_to(ROOT).as_posix())
    assert not strays, f"test files named after no module: {strays}"
