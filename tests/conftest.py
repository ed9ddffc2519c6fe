"""Fixtures shared by the tests: the repository, a clean build of the book, a served site."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# The book's Sphinx extensions (book/_ext) and scripts are importable by every test.
sys.path[:0] = [str(ROOT / "book" / "_ext"), str(ROOT / "scripts")]
import check_myst_header  # noqa: E402

BIN = Path(sys.executable).parent
#: What a copy of the book needs in order to build on its own.
BOOK_FILES = ("_config.yml", "_toc.yml", "book", "code")
_EXECUTED = re.compile(r"(\S+?)\.(?:md|ipynb): Executing notebook")


def available_devices() -> list[str]:
    """The devices the smoke tests run on: always the CPU, and a GPU when there is one."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def toc_files() -> list[str]:
    """Every document named in _toc.yml (root and chapters), without extension."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return names


@dataclass
class Build:
    """The result of one `jupyter-book build` of a book folder."""

    root: Path  # the book folder that was built
    returncode: int
    log: str  # stdout and stderr together

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def executed(self) -> set[str]:
        """Documents (relative paths without extension) whose notebooks ran in this build."""
        found = set()
        for match in _EXECUTED.finditer(self.log):
            path = Path(match.group(1))
            try:
                found.add(path.relative_to(self.root).as_posix())
            except ValueError:
                found.add(path.as_posix())
        return found


def copy_book(destination: Path) -> Path:
    """Copy what the book needs into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in BOOK_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)
    if (ROOT / "node_modules").is_dir():  # MathJax, which typesets the math at build time
        (destination / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return destination


#: The MyST-NB front matter every chapter starts with (without it, its cells do not run), as the
#: pre-commit hook scripts/check_myst_header.py expects it.
FRONT_MATTER = check_myst_header.EXPECTED + "\n"
#: A book of three tiny chapters over a two-module package (`beta` imports `alpha`), built with the
#: real book's configuration, extensions and static files: for tests of the build machinery, which
#: then cost seconds instead of a build of the whole book.
SMALL_BOOK = {
    "_toc.yml": "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/alpha\n  - file: book/beta\n",
    "book/intro.md": FRONT_MATTER + "\n# A small book\n\n```{code-cell} ipython3\nprint('no package code')\n```\n",
    "book/alpha.md": FRONT_MATTER
    + "\n# Alpha\n\n## The model\n\n```{code-cell} ipython3\nfrom mlbook.alpha import VALUE\n\nVALUE\n```\n",
    "book/beta.md": FRONT_MATTER
    + "\n# Beta\n\n```{code-cell} ipython3\nfrom mlbook.beta import twice\n\ntwice()\n```\n",
    "code/mlbook/__init__.py": "",
    "code/mlbook/alpha.py": "VALUE = 1\n",
    "code/mlbook/beta.py": "from mlbook.alpha import VALUE\n\n\ndef twice():\n    return 2 * VALUE\n",
}


def small_book(destination: Path) -> Path:
    """Write SMALL_BOOK into `destination`; build it with `build_book(root, env=small_book_env(root))`."""
    shutil.copy2(ROOT / "_config.yml", destination / "_config.yml")
    for name in ("_ext", "_static"):
        shutil.copytree(ROOT / "book" / name, destination / "book" / name)
    for name, text in SMALL_BOOK.items():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_text(text, encoding="utf-8")
    return destination


def small_book_env(root: Path) -> dict[str, str]:
    """The kernel imports the small book's own `mlbook`, not the real one."""
    return {"PYTHONPATH": str(root / "code")}


def build_book(root: Path, *extra: str, env: dict[str, str] | None = None, timeout: int = 600) -> Build:
    """Run the same build as `make book` on the book in `root`."""
    command = [str(BIN / "jupyter-book"), "build", str(root), "--warningiserror", "--keep-going", *extra]
    result = subprocess.run(
        command, cwd=root, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    return Build(root, result.returncode, result.stdout + result.stderr)


def clean_build(folder: Path) -> Build:
    """Build a fresh copy of the book in `folder` from scratch, failing the test if it fails."""
    build = build_book(copy_book(folder))
    if build.returncode != 0:
        pytest.fail(f"the clean build in {folder} failed:\n{build.log[-6000:]}")
    return build


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Build:
    """A clean build, from scratch, of a copy of the book, with warnings as errors."""
    return clean_build(tmp_path_factory.mktemp("book"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url(built_book):
    """The built site served over HTTP on 127.0.0.1, as `make serve` does."""
    handler = functools.partial(_QuietHandler, directory=str(built_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


#: Fixtures that build a book: a test using one must be marked `book`, so `make test-quick`
#: (`-m "not book and not browser"`) stays quick.
BUILDING_FIXTURES = {"built_book", "site_url", "small"}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        item.nodeid
        for item in items
        if BUILDING_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("book") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"these tests build the book but are not marked `book`: {unmarked}")
