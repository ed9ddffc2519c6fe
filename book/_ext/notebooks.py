"""Sphinx extension: every chapter as a runnable notebook and script, and a Colab button.

At the end of each HTML build, each chapter (a MyST-NB Markdown page with code cells) is turned
into `_notebooks/<docname>.ipynb` and `_notebooks/<docname>.py` in the site, by jupytext:

- right after the chapter's title comes a cell that installs the book's package `mlbook` (whose
  dependencies are what the chapters import) from the repository named in `_config.yml`, when
  `mlbook` is not importable yet (on Colab, or in a fresh environment);
- cells tagged `book-only` (e.g. one that reads the book's own `_config.yml`, or checks a claim
  of the prose) or `remove-cell` (what the page does not show: glue, checks) are left out, so
  the notebook runs what the page shows;
- the Markdown is made plain (plain_notebook.py): glued numbers as their values, glossary terms
  and cross-references as links to the site, every listing as a code cell of its real source;
- outputs are left out: the notebook is for running;
- the script prints what the notebook would display and saves each figure as a PNG file,
  saying where.

The page's download menu gets `.ipynb` and `.py` entries, and a launch menu gets a Colab button
that opens the chapter's notebook from the repository's `notebooks` branch, to which the deploy
workflow publishes the `_notebooks` folder (Colab opens notebooks from GitHub, not Markdown).
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from urllib.parse import urlparse

from sphinx.util import logging

import plain_notebook

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = "_notebooks"
#: The branch the deploy workflow publishes NOTEBOOK_DIR to; Colab opens notebooks from there.
NOTEBOOKS_BRANCH = "notebooks"
SKIP_TAG = "book-only"
#: Cells a notebook leaves out: book-only ones, and those the page does not show (`remove-cell`).
LEFT_OUT = {SKIP_TAG, "remove-cell"}
COLAB = "https://colab.research.google.com/github"

_TITLE = re.compile(r"\A((?:\([\w-]+\)=\s*\n)?#\s+[^\n]+\n?)", re.MULTILINE)


def _typed(options: dict[str, str]) -> dict[str, object]:
    """Directive options as Sphinx's literalinclude parses them (`dedent` is a number)."""
    typed: dict[str, object] = dict(options)
    if "dedent" in typed:
        typed["dedent"] = int(options["dedent"]) if options["dedent"] else None
    return typed


def repository(app) -> tuple[str, str, str]:
    """(owner, name, branch) of the GitHub repository configured in _config.yml."""
    options = app.config.html_theme_options or {}
    url = options.get("repository_url", "")
    parts = [p for p in urlparse(url).path.split("/") if p]
    if urlparse(url).netloc != "github.com" or len(parts) != 2:
        raise ValueError(f"repository.url in _config.yml should be https://github.com/<owner>/<name>, got {url!r}")
    return parts[0], parts[1].removesuffix(".git"), options.get("repository_branch") or "main"


def site_url(owner: str, name: str) -> str:
    """Where GitHub Pages publishes the repository's site."""
    return f"https://{owner}.github.io/{name}/"


def install_spec(owner: str, name: str, branch: str) -> str:
    return f"mlbook @ git+https://github.com/{owner}/{name}@{branch}#subdirectory=code"


def install_code(spec: str) -> str:
    return (
        "# Installs the book's package `mlbook` (and what the chapters use) when it is missing,\n"
        "# e.g. on Colab. With the book's environment set up (see the Setup chapter) it does nothing.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("mlbook") is None:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{spec}"], check=True)\n'
    )


def colab_url(owner: str, name: str, docname: str) -> str:
    return f"{COLAB}/{owner}/{name}/blob/{NOTEBOOKS_BRANCH}/{docname}.ipynb"


def is_chapter(path: Path) -> bool:
    """A MyST-NB page with at least one code cell."""
    text = path.read_text(encoding="utf-8")
    return "file_format: mystnb" in text and "{code-cell}" in text


def chapter_notebook(path: Path, spec: str, page_url: str, resolver: plain_notebook.Resolver | None = None):
    """The runnable notebook made from the chapter's Markdown source at `path`.

    With a `resolver` (which a build provides), the Markdown is made plain; without, it is kept.
    """
    import jupytext
    import nbformat

    source = jupytext.read(path, fmt="md:myst")
    cells = [c for c in source.cells if not LEFT_OUT & set(c.metadata.get("tags", []))]
    intro = nbformat.v4.new_markdown_cell(
        f"*This notebook is generated from the web page [{page_url}]({page_url}), which shows its "
        "figures, mathematics and cross-references. Run the first code cell to install what it needs.*"
    )
    install = nbformat.v4.new_code_cell(install_code(spec))
    head = []
    if cells and cells[0].cell_type == "markdown" and (match := _TITLE.match(cells[0].source)):
        title, rest = match.group(1), cells[0].source[match.end() :].lstrip("\n")
        head = [nbformat.v4.new_markdown_cell(title.rstrip("\n"))]
        cells = ([nbformat.v4.new_markdown_cell(rest)] if rest.strip() else []) + cells[1:]
    body = [_clean(cell) for cell in cells]
    if resolver is not None:
        head, body = ([made for cell in part for made in _plain(cell, path.parent, resolver)] for part in (head, body))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = head + [intro, install] + body
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


def _plain(cell, doc_dir: Path, resolver: plain_notebook.Resolver) -> list:
    """The cell, or the cells, that a plain notebook has for one cell of the chapter."""
    import nbformat

    if cell.cell_type != "markdown":
        return [cell]
    made = []
    for kind, source in plain_notebook.convert_markdown(cell.source, doc_dir, resolver):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        made.append(make(source))
    return made


def _clean(cell):
    """A fresh cell (with an id) holding the source and tags of a jupytext cell."""
    import nbformat

    make = nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell
    fresh = make(cell.source)
    if tags := cell.metadata.get("tags"):
        fresh.metadata["tags"] = list(tags)
    return fresh


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def resolver(app, docname: str) -> plain_notebook.Resolver:
    """What plain_notebook needs to know about the built book, for the chapter `docname`."""
    import json

    from sphinx.directives.code import LiteralIncludeReader

    owner, name, _ = repository(app)
    std = app.env.get_domain("std")
    terms = {key.lower(): entry[:2] for (kind, key), entry in std.objects.items() if kind == "term"}
    glue_file = Path(app.env.mystnb_config.output_folder) / f"{docname}.glue.json"
    glue = (
        {key: output.get("data", {}) for key, output in json.loads(glue_file.read_text(encoding="utf-8")).items()}
        if glue_file.is_file()
        else {}
    )
    return plain_notebook.Resolver(
        site=site_url(owner, name),
        labels=dict(std.labels),
        terms=terms,
        glue=glue,
        read_include=lambda path, options: LiteralIncludeReader(str(path), _typed(options), app.config).read()[0],
    )


#: Defined at the top of each chapter's script (not its notebook): what a notebook displays
#: after a cell, a script prints, or saves as a PNG file if it is a figure.
SHOW_CODE = """\
# As a script, this chapter prints what its notebook would display after a cell, and saves
# each figure as a PNG file in the folder figures/ (it prints each file's name).
from pathlib import Path


def show(value, _figures=[0]):
    if value is None:
        return
    if hasattr(value, "savefig"):  # a matplotlib figure
        _figures[0] += 1
        path = Path("figures") / f"{CHAPTER}-{_figures[0]}.png"
        path.parent.mkdir(exist_ok=True)
        value.savefig(path, dpi=100, bbox_inches="tight")
        print(f"saved the figure {path}")
    else:
        print(repr(value))
"""


FUTURE = plain_notebook.FUTURE


def script_source(source: str) -> str:
    """A code cell's source for the script: its last expression, which a notebook would display,
    passed to `show` (the source is left as it is when it ends otherwise, or does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr) or source.rstrip().endswith(";"):
        return source
    call = last.value.func if isinstance(last.value, ast.Call) else None
    if isinstance(call, ast.Name) and call.id in ("print", "glue", "display"):
        return source  # shows nothing after the cell, or shows itself
    lines = source.split("\n")
    expression = ast.get_source_segment(source, last.value)
    return "\n".join([*lines[: last.lineno - 1], f"show({expression})", *lines[last.end_lineno :]])


def chapter_script(notebook, docname: str) -> str:
    import jupytext
    import nbformat

    script = copy.deepcopy(notebook)
    for cell in script.cells:
        if cell.cell_type == "code":
            # a file may name a __future__ import only at its top (a notebook cell may at its own)
            cell.source = script_source(cell.source.replace(FUTURE + "\n", ""))
    position = next(i for i, cell in enumerate(script.cells) if cell.cell_type == "code")
    script.cells[position].source = FUTURE + "\n\n" + script.cells[position].source
    position += 1
    chapter = docname.split("/")[-1]
    script.cells.insert(position, nbformat.v4.new_code_cell(f"CHAPTER = {chapter!r}\n" + SHOW_CODE))
    script.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    return jupytext.writes(script, fmt="py:percent")


def write_downloads(app, docnames) -> list[str]:
    """Write the notebook and the script of each chapter among `docnames`; return those written."""
    import nbformat

    owner, name, branch = repository(app)
    spec = install_spec(owner, name, branch)
    written = []
    for docname in sorted(docnames):
        path = Path(app.env.doc2path(docname))
        if path.suffix != ".md" or not is_chapter(path):
            continue
        page = site_url(owner, name) + f"{docname}.html"
        try:
            notebook = chapter_notebook(path, spec, page, resolver(app, docname))
        except plain_notebook.UnknownSyntax as error:
            logger.warning(f"notebooks: {docname}: cannot make a plain notebook: {error}")
            continue
        target = Path(app.outdir) / NOTEBOOK_DIR / docname
        _write_if_changed(target.with_suffix(".ipynb"), nbformat.writes(notebook) + "\n")
        _write_if_changed(target.with_suffix(".py"), chapter_script(notebook, docname))
        written.append(docname)
    return written


def _on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    written = write_downloads(app, app.env.found_docs)
    logger.info(f"notebooks: wrote .ipynb and .py for {len(written)} chapters into {NOTEBOOK_DIR}/")


def _on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    """Add the .ipynb and .py downloads and the Colab button to a chapter's header."""
    buttons = context.get("header_buttons")
    if buttons is None or pagename not in app.env.found_docs:
        return
    path = Path(app.env.doc2path(pagename))
    if path.suffix != ".md" or not is_chapter(path):
        return
    owner, name, _ = repository(app)
    pathto = context["pathto"]
    downloads = [
        {
            "type": "link",
            "url": pathto(f"{NOTEBOOK_DIR}/{pagename}.ipynb", 1),
            "text": ".ipynb",
            "tooltip": "Download this chapter as a Jupyter notebook",
            "icon": "fas fa-code",
            "label": "download-notebook-button",
        },
        {
            "type": "link",
            "url": pathto(f"{NOTEBOOK_DIR}/{pagename}.py", 1),
            "text": ".py",
            "tooltip": "Download this chapter as a Python script",
            "icon": "fas fa-file-code",
            "label": "download-script-button",
        },
    ]
    for button in buttons:
        if button.get("label") == "download-buttons":
            button["buttons"][:0] = downloads
    launch = {
        "type": "link",
        "url": colab_url(owner, name, pagename),
        "text": "Colab",
        "tooltip": "Open this chapter as a notebook in Google Colab",
        "icon": "fas fa-rocket",
        "label": "colab-button",
    }
    buttons.insert(
        0,
        {
            "type": "group",
            "tooltip": "Run this chapter as a notebook",
            "icon": "fas fa-rocket",
            "buttons": [launch],
            "label": "launch-buttons",
        },
    )


def setup(app):
    app.connect("build-finished", _on_build_finished)
    # After sphinx-book-theme has made its header buttons (priority 501).
    app.connect("html-page-context", _on_html_page_context, priority=600)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
