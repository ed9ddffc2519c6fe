"""Checks on the book's sources that need no build: the table of contents, front matter,
included code, and the README's chapter -> module -> test table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT, toc_files

CHAPTERS = toc_files()
INCLUDE = re.compile(r"```\{literalinclude\}\s+(\S+)\n((?::\w[\w-]*:.*\n)*)")


def chapter_path(name: str) -> Path:
    return ROOT / f"{name}.md"


def front_matter(text: str) -> str:
    assert text.startswith("---\n"), "a chapter starts with a front-matter block"
    return text.split("\n---\n", 1)[0]


def test_toc_lists_the_part_one_and_two_chapters():
    assert CHAPTERS[:11] == ["book/intro", "book/setup", "book/tensors", "book/linear_regression",
                            "book/optimisation", "book/multivariable", "book/feature_scaling", "book/basis",
                            "book/regularisation", "book/evaluation", "book/likelihood"]


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_exists_with_mystnb_front_matter(name):
    path = chapter_path(name)
    assert path.is_file(), f"_toc.yml lists {name}, which does not exist"
    header = front_matter(path.read_text(encoding="utf-8"))
    assert "file_format: mystnb" in header
    assert "kernelspec:" in header and "name: python3" in header


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_has_label_summary_and_exercises_with_solutions(name):
    text = chapter_path(name).read_text(encoding="utf-8")
    assert re.search(r"^\([\w-]+\)=\n# ", text, re.MULTILINE), "a label before the title, for cross-references"
    if name != "book/intro":
        assert "\n## Summary\n" in text and "\n## Exercises\n" in text
        assert ":class: dropdown" in text, "solutions are collapsed"
    for phrase in ("coming soon", "TODO", "TBD", "lorem ipsum"):
        assert phrase.lower() not in text.lower()


@pytest.mark.parametrize("name", CHAPTERS)
def test_included_code_exists(name):
    path = chapter_path(name)
    for target, options in INCLUDE.findall(path.read_text(encoding="utf-8")):
        source = (path.parent / target).resolve()
        assert source.is_file(), f"{name} includes {target}, which does not exist"
        match = re.search(r":pyobject:\s*(\S+)", options)
        if match:
            tree = ast.parse(source.read_text(encoding="utf-8"))
            names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            assert match.group(1) in names, f"{name} shows {match.group(1)}, which {target} does not define"


def test_chapters_do_not_retype_package_functions():
    """One source of truth: a chapter shows package code with literalinclude, never a copy."""
    package = ROOT / "code" / "mlbook"
    defined = set()
    for module in package.glob("*.py"):
        # module-level functions: the package's API (helpers nested inside them are not)
        defined |= {n.name for n in ast.parse(module.read_text()).body if isinstance(n, ast.FunctionDef)}
    for name in CHAPTERS:
        text = chapter_path(name).read_text(encoding="utf-8")
        retyped = {f for f in defined if re.search(rf"^\s*def {f}\(", text, re.MULTILINE)}
        assert not retyped, f"{name} redefines package functions {retyped}"


def test_readme_table_maps_every_chapter_to_module_and_test():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| [")]
    linked = set(re.findall(r"\]\((book/[\w/]+)\.md\)", "\n".join(rows)))
    assert set(CHAPTERS) == linked
    for row in rows:
        for target in re.findall(r"\]\(((?:code|tests)/[\w/.]+)\)", row):
            assert (ROOT / target).exists(), f"README links {target}, which does not exist"


def test_every_module_has_its_own_test_file():
    for module in (ROOT / "code" / "mlbook").glob("*.py"):
        if module.name == "__init__.py":
            continue
        assert (ROOT / "tests" / f"test_{module.stem}.py").is_file(), f"no tests/test_{module.stem}.py"


def test_repository_url_is_set_in_one_place():
    """_config.yml names the GitHub repository; nothing else in the repository repeats it."""
    import subprocess

    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    files = [ROOT / f for f in tracked] or [p for p in ROOT.rglob("*") if ".venv" not in p.parts and "_build" not in p.parts]
    owner_and_name = url.removeprefix("https://github.com/")
    repeats = [str(p.relative_to(ROOT)) for p in files
               if p.is_file() and p.name != "_config.yml" and p.suffix in {".md", ".py", ".yml", ".yaml", ".toml", ".cff", ".txt"}
               and owner_and_name in p.read_text(encoding="utf-8", errors="replace")]
    assert not repeats, f"these files repeat the repository address instead of reading _config.yml: {repeats}"
