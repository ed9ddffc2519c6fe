"""Tests for the book's Sphinx extension book/_ext/mlbook_deps.py (which chapters use which code)."""

import mlbook_deps
from conftest import ROOT

PACKAGE = ROOT / "code" / "mlbook"


def deps(chapter: str) -> set[str]:
    path = ROOT / "book" / f"{chapter}.md"
    files = mlbook_deps.chapter_dependencies(path.read_text(), path.parent, PACKAGE)
    return {f.relative_to(ROOT).as_posix() for f in files}


def test_imports_are_followed_transitively():
    found = deps("tensors")
    assert "code/mlbook/tensors.py" in found
    assert {"code/mlbook/cli.py", "code/mlbook/device.py", "code/mlbook/__init__.py"} <= found  # imported by it
    assert "code/mlbook/linear_regression.py" not in found
    assert "code/mlbook/setup.py" not in found


def test_setup_depends_on_its_modules_and_the_config_it_reads():
    found = deps("setup")
    assert {"code/mlbook/setup.py", "code/mlbook/device.py", "_config.yml"} <= found
    assert "code/mlbook/tensors.py" not in found


def test_every_import_form_is_recognised(tmp_path):
    source = "\n".join(
        [
            "```{code-cell} ipython3",
            "import mlbook.device",
            "from mlbook import cli, plotting as p",
            "from mlbook.data import load_penguins",
            "```",
            "```{literalinclude} ../code/mlbook/setup.py",
            ":pyobject: main",
            "```",
        ]
    )
    files = mlbook_deps.chapter_dependencies(source, ROOT / "book", PACKAGE)
    names = {f.name for f in files}
    assert {"device.py", "cli.py", "plotting.py", "data.py", "setup.py", "__init__.py"} <= names


def test_prose_mentions_are_not_dependencies():
    source = "We will meet `mlbook.linear_regression` later.\n\n```python\nimport mlbook.data\n```\n"
    assert mlbook_deps.chapter_dependencies(source, ROOT / "book", PACKAGE) == []


def test_fingerprint_changes_with_content_only(tmp_path):
    a = tmp_path / "a.py"
    a.write_text("x = 1\n")
    first = mlbook_deps.fingerprint([a], tmp_path)
    a.write_text("x = 1\n")
    assert mlbook_deps.fingerprint([a], tmp_path) == first
    a.write_text("x = 2\n")
    assert mlbook_deps.fingerprint([a], tmp_path) != first
