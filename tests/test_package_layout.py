"""The package reads in the book's order: one name per chapter (chapter, module, test file), each
chapter's module imports only earlier chapters' modules and the shared helpers, nothing imports in a
circle, and so an edit to a module re-executes only its own chapter and later ones."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import mlbook_deps
from conftest import ROOT, toc_files

PACKAGE = ROOT / "code" / "mlbook"
#: Modules that serve every chapter and belong to none: data loading, plotting, devices, the command
#: line. They may import one another, never a chapter's module.
HELPERS = {"data", "plotting", "device", "cli"}
#: The chapters, in reading order, by name: book/<name>.md.
ORDER = [Path(doc).name for doc in toc_files()]
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imports(module: str) -> set[str]:
    """The mlbook modules that `module`'s source imports, anywhere in the file."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("mlbook.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mlbook":
                found |= {a.name for a in node.names if a.name in MODULES}
            elif node.module.startswith("mlbook."):
                found.add(node.module.split(".")[1])
    return found - {module}


def test_every_module_is_a_chapter_or_a_shared_helper():
    strays = set(MODULES) - HELPERS - set(ORDER)
    assert not strays, f"name these after their chapter, or make them shared helpers: {sorted(strays)}"


@pytest.mark.parametrize("module", sorted(set(MODULES) & set(ORDER)))
def test_a_chapter_module_has_the_chapter_and_test_file_of_its_name(module):
    chapter = ROOT / "book" / f"{module}.md"
    assert f"mlbook.{module}" in chapter.read_text(encoding="utf-8"), f"{chapter} does not use its module"
    assert (ROOT / "tests" / f"test_{module}.py").is_file()
    assert hasattr(__import__(f"mlbook.{module}", fromlist=["main"]), "main"), "runnable as python -m"


def test_every_chapter_that_shows_package_code_has_a_module_of_its_name():
    """A chapter that literalincludes package code has code of its own, so a module of its name."""
    for name in ORDER:
        text = (ROOT / "book" / f"{name}.md").read_text(encoding="utf-8")
        paths = [path for match in mlbook_deps._INCLUDE.findall(text) for path in match]
        shown = {Path(path).stem for path in paths if "code/mlbook/" in path}
        if shown - HELPERS:
            assert name in MODULES, f"book/{name}.md shows {sorted(shown)} but there is no code/mlbook/{name}.py"


@pytest.mark.parametrize("module", MODULES)
def test_imports_follow_the_book(module):
    found = imports(module)
    if module in HELPERS:
        assert found <= HELPERS, f"the shared helper {module} imports a chapter's module: {sorted(found - HELPERS)}"
        return
    later = sorted(name for name in found - HELPERS if ORDER.index(name) >= ORDER.index(module))
    assert not later, f"mlbook.{module} imports {later}, from its own or a later chapter"


def test_nothing_imports_in_a_circle():
    graph = {module: imports(module) for module in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module not in done:
            for name in sorted(graph[module]):
                visit(name, [*path, module])
            done.add(module)

    for module in MODULES:
        visit(module, [])


def test_the_checks_catch_a_forward_import_and_a_cycle(tmp_path, monkeypatch):
    """The two checks above, against a planted forward import and a planted cycle."""
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    (tmp_path / "basis.py").write_text("from mlbook.likelihood import gaussian_nll\n")
    (tmp_path / "likelihood.py").write_text("from mlbook import basis\n")
    (tmp_path / "data.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "MODULES", ["basis", "data", "likelihood"])
    with pytest.raises(AssertionError, match=r"imports \['likelihood'\]"):
        test_imports_follow_the_book("basis")
    with pytest.raises(pytest.fail.Exception, match="import cycle: basis -> likelihood -> basis"):
        test_nothing_imports_in_a_circle()


def chapters_using(module: str) -> set[str]:
    """The chapters an edit to code/mlbook/<module>.py re-executes (as book/_ext/mlbook_deps.py finds them)."""
    chapters = [ROOT / "book" / f"{name}.md" for name in ORDER]
    return {p.stem for p in mlbook_deps.chapters_using(PACKAGE / f"{module}.py", chapters, PACKAGE)}


@pytest.mark.parametrize("module", sorted(set(MODULES) & set(ORDER)))
def test_an_edit_to_a_chapter_module_reexecutes_only_that_chapter_and_later_ones(module):
    using = chapters_using(module)
    assert module in using
    earlier = sorted(name for name in using if ORDER.index(name) < ORDER.index(module))
    assert not earlier, f"an edit to {module}.py re-executes the earlier chapters {earlier}"


def test_an_edit_to_the_last_chapter_module_reexecutes_that_chapter_alone():
    last = [name for name in ORDER if name in MODULES][-1]
    assert chapters_using(last) == {last}
