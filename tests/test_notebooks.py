"""The notebook and script of each chapter (book/_ext/notebooks.py): what they contain, that the
site serves them, and that a downloaded notebook runs top to bottom in a fresh environment whose
only route to the book's package is the notebook's own install cell."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import sysconfig
import urllib.request
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import nbformat
import pytest
import yaml

import notebooks
import plain_notebook
from conftest import ROOT, toc_files
from mlbook.data import load_penguins

REPOSITORY = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
OWNER, NAME = REPOSITORY["url"].removeprefix("https://github.com/").split("/")
SPEC = notebooks.install_spec(OWNER, NAME, REPOSITORY["branch"])
CHAPTERS = [doc for doc in toc_files() if notebooks.is_chapter(ROOT / f"{doc}.md")]
#: Cells a downloaded notebook leaves out: what the page does not show, and book-only checks.
LEFT_OUT = {"remove-cell", notebooks.SKIP_TAG}


def generated(doc: str):
    return notebooks.chapter_notebook(ROOT / f"{doc}.md", SPEC, f"https://example.org/{doc}.html")


def test_every_page_with_code_is_a_chapter_with_downloads():
    assert len(CHAPTERS) >= 11
    assert {"book/setup", "book/linear_regression", "book/likelihood"} <= set(CHAPTERS)


@pytest.mark.parametrize("doc", CHAPTERS)
def test_notebook_starts_with_title_then_install_cell_and_keeps_every_runnable_cell(doc):
    import jupytext

    notebook = generated(doc)
    nbformat.validate(notebook)
    first, intro, install = notebook.cells[:3]
    assert first.cell_type == "markdown" and re.search(r"^# \S", first.source, re.M)
    assert intro.cell_type == "markdown" and "https://example.org" in intro.source
    assert install.cell_type == "code" and SPEC in install.source and 'find_spec("mlbook")' in install.source
    source = jupytext.read(ROOT / f"{doc}.md", fmt="md:myst")
    expected = [
        c.source for c in source.cells if c.cell_type == "code" and not LEFT_OUT & set(c.metadata.get("tags", []))
    ]
    assert [c.source for c in notebook.cells[3:] if c.cell_type == "code"] == expected
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")


def test_cells_that_only_make_sense_in_the_book_are_left_out():
    tagged = [c for c in generated("book/setup").cells if LEFT_OUT & set(c.metadata.get("tags", []))]
    assert tagged == []
    assert "_config.yml" not in "".join(c.source for c in generated("book/setup").cells if c.cell_type == "code")


def test_install_command_names_the_configured_repository_and_branch():
    assert SPEC == f"mlbook @ git+{REPOSITORY['url']}@{REPOSITORY['branch']}#subdirectory=code"
    # The package's own dependencies are all a notebook needs: no cell it keeps uses myst-nb (glue
    # cells are removed from the page, so they are left out), hence no install extra.
    for doc in CHAPTERS:
        kept = "".join(c.source for c in generated(doc).cells if c.cell_type == "code")
        assert "myst_nb" not in kept, f"{doc}'s notebook imports myst_nb, which the install cell does not bring"


def test_colab_url_opens_the_published_notebook():
    assert notebooks.colab_url("o", "r", "book/setup") == (
        "https://colab.research.google.com/github/o/r/blob/notebooks/book/setup.ipynb"
    )


@pytest.mark.book
def test_site_holds_a_notebook_and_a_script_of_every_chapter(built_book):
    folder = built_book.html / "_notebooks"
    for doc in CHAPTERS:
        notebook = nbformat.read(folder / f"{doc}.ipynb", as_version=4)
        nbformat.validate(notebook)
        script = (folder / f"{doc}.py").read_text()
        ast.parse(script)  # a plain Python script
        assert SPEC in script and "# %%" in script
    assert not (folder / "book" / "notation.ipynb").exists()


def _fresh_environment(folder: Path) -> Path:
    """A new virtual environment that sees the book's dependencies (torch, ipykernel, myst-nb...)
    but not `mlbook`: its site-packages points at the test interpreter's through a .pth file,
    which adds that folder without running the editable-install hook that finds `mlbook`."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"

    def ask(code: str) -> str:
        return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    purelib = ask("import sysconfig; print(sysconfig.get_paths()['purelib'])")
    Path(purelib, "book-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    found = ask("import importlib.util as u; print(u.find_spec('mlbook'))")
    assert found == "None", "the fresh environment must not see mlbook before the install cell runs"
    return python


def _repository_snapshot(folder: Path) -> Path:
    """A git repository holding the working tree's code/, on branch main: the install cell's
    `git+https://github.com/...` is redirected here, so the test needs no network."""
    import shutil

    shutil.copytree(ROOT / "code", folder / "code", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    subprocess.run([*git, "add", "-A"], cwd=folder, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=folder, check=True)
    return folder


#: The glued values a chapter marks as measured timings (in a `:::{div} measured-timing` block):
#: the only numbers allowed to differ from one execution to the next.
_TIMING_BLOCK = re.compile(r"^:::\{div\} measured-timing\n(.*?)^:::$", re.S | re.M)
_GLUE_NAME = re.compile(r"\{glue(?::\w+)?\}`([\w-]+)")
#: Output formats whose text a reader sees; figures (PNG) are compared by neither build nor test.
_TEXT_FORMATS = ("text/plain", "text/html", "text/markdown", "text/latex")


def timing_names(source: str) -> set[str]:
    return {name for block in _TIMING_BLOCK.findall(source) for name in _GLUE_NAME.findall(block)}


def readable_outputs(cell, timings: set[str]) -> list:
    """What the page shows of a code cell's outputs, and every value it glues into the prose, as text.

    Outputs of cells whose outputs the page removes are left out, except glued values; glued
    measured timings are left out too."""
    tags = cell.metadata.get("tags", [])
    shown = not {"remove-output", "remove-cell"} & set(tags)
    found = []
    for output in cell.get("outputs", []):
        glued = output.get("metadata", {}).get("scrapbook", {}).get("name")
        if glued in timings or not (shown or glued):
            continue
        if output.output_type == "stream":  # one stream may arrive in several pieces: join them
            if found and found[-1][0] == output.name:
                found[-1] = (output.name, found[-1][1] + output.text)
            else:
                found.append((output.name, output.text))
        elif output.output_type in ("display_data", "execute_result"):
            found.append((glued, {k: v for k, v in output.data.items() if k in _TEXT_FORMATS}))
        else:
            found.append((output.output_type, output.get("ename"), output.get("evalue")))
    return found


def test_readable_outputs_keep_what_the_page_shows_and_drop_timings():
    from nbformat.v4 import new_code_cell, new_output

    glue = {"scrapbook": {"name": "m"}}
    cell = new_code_cell("", outputs=[new_output("stream", name="stdout", text=t) for t in ("a", "\n")])
    cell.outputs.append(new_output("display_data", data={"text/plain": "3", "image/png": "x"}, metadata=glue))
    timed = dict(glue, scrapbook={"name": "loop_ms"})
    cell.outputs.append(new_output("display_data", data={"text/plain": "5.1"}, metadata=timed))
    assert readable_outputs(cell, {"loop_ms"}) == [("stdout", "a\n"), ("m", {"text/plain": "3"})]
    cell.metadata["tags"] = ["remove-output"]
    assert readable_outputs(cell, {"loop_ms"}) == [("m", {"text/plain": "3"})]
    source = ":::{div} measured-timing\nIt took {glue:text}`loop_ms:.1f` ms.\n:::\n{glue:text}`m`\n"
    assert timing_names(source) == {"loop_ms"}


def same_as_the_book(doc: str, executed, built) -> list[str]:
    """Where the downloaded notebook, run again, reads differently from the book's own execution
    (the build's cached outputs): the same chapter executed twice must read the same."""
    from jupyter_cache import get_cache

    cache = get_cache(built.root / "_build" / ".jupyter_cache")
    source_path = built.root / f"{doc}.md"
    record = max((r for r in cache.list_cache_records() if r.uri == str(source_path)), key=lambda r: r.created)
    book = {cell.source: cell for cell in cache.get_cache_bundle(record.pk).nb.cells if cell.cell_type == "code"}
    timings = timing_names(source_path.read_text(encoding="utf-8"))
    differences, compared = [], 0
    for cell in executed.cells:
        if cell.cell_type == "code" and cell.source in book:
            compared += 1
            ours, theirs = readable_outputs(cell, timings), readable_outputs(book[cell.source], timings)
            if ours != theirs:
                differences.append(f"{doc}: the cell {cell.source[:60]!r} gave {ours!r:.300} then {theirs!r:.300}")
    shown = [c for c in book.values() if not LEFT_OUT & set(c.metadata.get("tags", []))]
    if compared < len(shown) - 1:  # all the page shows (the stamp, which the build adds, aside)
        differences.append(f"{doc}: only {compared} of the page's {len(shown)} code cells were found in the notebook")
    return differences


@pytest.mark.book
def test_downloaded_notebooks_run_top_to_bottom_in_a_fresh_environment_and_read_as_the_book(
    built_book, site_url, tmp_path, monkeypatch
):
    """Each chapter's .ipynb download runs in a fresh environment, and its outputs and glued numbers
    are the ones the book shows: the chapter executed twice reads the same (measured timings aside)."""
    from nbclient import NotebookClient

    python = _fresh_environment(tmp_path / "env")
    snapshot = _repository_snapshot(tmp_path / "repository")
    kernels = tmp_path / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "fresh",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    for key, value in {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{snapshot}.insteadOf",
        "GIT_CONFIG_VALUE_0": REPOSITORY["url"],
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # (pip reads "0" as: no isolation)
        "PYTHONPATH": "",
    }.items():
        monkeypatch.setenv(key, value)

    def download(doc: str) -> nbformat.NotebookNode:
        page_url = f"{site_url}/{doc}.html"
        page = urllib.request.urlopen(page_url).read().decode()
        link = re.search(r'href="([^":]+\.ipynb)"', page).group(1)  # the download (not Colab) link
        data = urllib.request.urlopen(urljoin(page_url, link)).read()
        return nbformat.reads(data.decode(), as_version=4)

    def execute(doc: str) -> list[str]:
        workdir = tmp_path / "run" / doc
        workdir.mkdir(parents=True)  # an empty folder: the notebook may not lean on the book's files
        notebook = download(doc)
        try:
            NotebookClient(
                notebook, kernel_name="fresh", timeout=300, resources={"metadata": {"path": str(workdir)}}
            ).execute()
        except Exception as error:  # noqa: BLE001 (report every chapter that fails, then fail)
            return [f"{doc}: {str(error)[-1500:]}"]
        return same_as_the_book(doc, notebook, built_book)

    # The first notebook installs the package; the others then find it and run two at a time.
    failures = execute(CHAPTERS[0])
    assert list((python.parent.parent / "lib").glob("python*/site-packages/mlbook/__init__.py")), (
        f"the install cell did not install mlbook into the fresh environment: {failures}"
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures += [f for found in pool.map(execute, CHAPTERS[1:]) for f in found]
    assert not failures, "\n\n".join(failures)


# The notebooks are plain (book/_ext/plain_notebook.py): no MyST syntax left for Jupyter to show raw.

SITE = notebooks.site_url(OWNER, NAME)


def fake_resolver(**glue) -> plain_notebook.Resolver:
    return plain_notebook.Resolver(
        site="https://example.org/",
        labels={"intro": ("book/intro", "intro", "Introduction")},
        terms={"loss function": ("book/glossary", "term-loss-function")},
        glue={name: {"text/plain": repr(value)} for name, value in glue.items()},
        read_include=lambda path, options: f"def {options['pyobject']}(x):\n    return helper(x) + CONSTANT\n",
    )


def test_roles_become_values_and_links():
    text = (
        "(intro)=\n# Title\n\n"
        "See {ref}`intro`, {ref}`this page <intro>`, a {term}`loss <loss function>`: {glue:text}`a:.2f`."
    )
    plain = plain_notebook.plain_text(text, fake_resolver(a=0.49687))
    assert plain == (
        "# Title\n\nSee [Introduction](https://example.org/book/intro.html#intro), "
        "[this page](https://example.org/book/intro.html#intro), "
        "a [loss](https://example.org/book/glossary.html#term-loss-function): 0.50."
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("{ref}`nowhere`", "no label"),
        ("{term}`nothing`", "no glossary entry"),
        ("{glue:text}`missing`", "no glued text"),
        ("{eq}`x`", "the role {eq}"),
        ("```{figure} a.png\n```", "the directive {figure}"),
        ("```{admonition} A\nnever closed", "never closed"),
    ],
)
def test_syntax_without_a_plain_form_is_an_error(text, message):
    with pytest.raises(plain_notebook.UnknownSyntax, match=message):
        plain_notebook.convert_markdown(text, ROOT / "book", fake_resolver())


def test_directives_become_text_and_listings_code_cells():
    text = (
        "Before.\n\n```{literalinclude} ../code/mlbook/basis.py\n:language: python\n:pyobject: fit\n```\n\n"
        "```{admonition} Solutions\n:class: dropdown\n\n1. {term}`loss function`\n```\n\n"
        ":::{div} measured-timing\nIt took {glue:text}`ms:.1f` ms.\n:::\n"
    )
    cells = plain_notebook.convert_markdown(text, ROOT / "book", fake_resolver(ms=3.14159))
    assert [kind for kind, _ in cells] == ["markdown", "code", "markdown"]
    assert cells[0][1] == "Before."
    assert cells[1][1].endswith("def fit(x):\n    return helper(x) + CONSTANT")
    assert "from __future__ import annotations" in cells[1][1]
    assert cells[2][1].startswith("**Solutions**\n\n1. [loss function](https://example.org/book/glossary.html")
    assert cells[2][1].endswith("It took 3.1 ms.")


def test_a_listing_imports_what_it_uses_from_its_module():
    source = "@dataclass\nclass A(Base):\n    n: int = DEFAULT\n\n    def f(self) -> A:\n"
    source += "        return _helper(self, torch)\n"
    assert plain_notebook.used_names(source) == {"dataclass", "Base", "DEFAULT", "_helper", "torch"}
    module = plain_notebook.module_names(ROOT / "code" / "mlbook" / "linear_regression.py")
    assert {"torch", "dataclass", "GDConfig", "check_xy", "FLIPPER_REFERENCE_MM", "tqdm"} <= module


def built_notebook(built_book, doc: str):
    return nbformat.read(built_book.html / notebooks.NOTEBOOK_DIR / f"{doc}.ipynb", as_version=4)


@pytest.mark.book
@pytest.mark.parametrize("doc", CHAPTERS)
def test_built_notebooks_are_plain_markdown_and_code(built_book, doc):
    from sphinx.directives.code import LiteralIncludeReader

    notebook = built_notebook(built_book, doc)
    markdown = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert plain_notebook.LEFTOVER.findall(markdown) == [], f"MyST syntax left in {doc}.ipynb"
    source = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    # every {term} is a link to its glossary entry on the site
    assert markdown.count(f"]({SITE}book/glossary.html#term-") == source.count("{term}`")
    # every listing the page shows is a code cell holding exactly what the page shows
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    config = type("Config", (), {"source_encoding": "utf-8-sig"})()
    for block in plain_notebook._blocks(source):
        if block[0] == "directive" and block[1] == "literalinclude":
            options = notebooks._typed(block[3])
            shown = LiteralIncludeReader(str(ROOT / "book" / block[2]), options, config).read()[0].rstrip("\n")
            assert any(cell.endswith(shown) for cell in code), f"{doc}: the listing {block[3]} is not a code cell"


@pytest.mark.book
def test_glued_numbers_in_a_notebook_are_the_computed_values(built_book):
    from sklearn.linear_model import LinearRegression

    data = load_penguins(("flipper_length_mm", "body_mass_g"))
    x = ((data["flipper_length_mm"].double() - 200) / 10).numpy()[:, None]
    fit = LinearRegression().fit(x, (data["body_mass_g"].double() / 1000).numpy())
    markdown = "".join(c.source for c in built_notebook(built_book, "book/linear_regression").cells)
    assert f"{fit.coef_[0]:.4f} kg/cm" in markdown and f"{fit.intercept_:.4f} kg" in markdown


@pytest.mark.book
def test_a_downloaded_script_prints_what_it_shows_and_saves_its_figures(built_book, tmp_path):
    script = built_book.html / notebooks.NOTEBOOK_DIR / "book" / "tensors.py"
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "saved the figure figures/tensors-1.png" in result.stdout
    assert (tmp_path / "figures" / "tensors-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "torch.float64" in result.stdout  # a value the notebook would display, printed
