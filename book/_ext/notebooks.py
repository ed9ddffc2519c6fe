"""Sphinx extension: every chapter as a runnable notebook and script, and a Colab button.

At the end of each HTML build, each chapter (a MyST-NB Markdown page with code cells) is turned
into `_notebooks/<docname>.ipynb` and `_notebooks/<docname>.py` in the site, by jupytext:

- right after the chapter's title comes a cell that installs the book's package (with what the
  chapters use: `mlbook[notebook]`) from the repository named in `_config.yml`, when `mlbook`
  is not importable yet (on Colab, or in a fresh environment);
- cells tagged `book-only` (e.g. one that reads the book's own `_config.yml`) are left out;
- outputs are left out: the notebook is for running.

The page's download menu gets `.ipynb` and `.py` entries, and a launch menu gets a Colab button
that opens the chapter's notebook from the repository's `notebooks` branch, to which the deploy
workflow publishes the `_notebooks` folder (Colab opens notebooks from GitHub, not Markdown).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import urlparse

from sphinx.util import logging

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = "_notebooks"
#: The branch the deploy workflow publishes NOTEBOOK_DIR to; Colab opens notebooks from there.
NOTEBOOKS_BRANCH = "notebooks"
SKIP_TAG = "book-only"
COLAB = "https://colab.research.google.com/github"

_TITLE = re.compile(r"\A((?:\([\w-]+\)=\s*\n)?#\s+[^\n]+\n?)", re.MULTILINE)


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
    return f"mlbook[notebook] @ git+https://github.com/{owner}/{name}@{branch}#subdirectory=code"


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


def chapter_notebook(path: Path, spec: str, page_url: str):
    """The runnable notebook made from the chapter's Markdown source at `path`."""
    import jupytext
    import nbformat

    source = jupytext.read(path, fmt="md:myst")
    cells = [c for c in source.cells if SKIP_TAG not in c.metadata.get("tags", [])]
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
    notebook = nbformat.v4.new_notebook()
    notebook.cells = head + [intro, install] + [_clean(cell) for cell in cells]
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(notebook)
    return notebook


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


def write_downloads(app, docnames) -> list[str]:
    """Write the notebook and the script of each chapter among `docnames`; return those written."""
    import jupytext
    import nbformat

    owner, name, branch = repository(app)
    spec = install_spec(owner, name, branch)
    written = []
    for docname in sorted(docnames):
        path = Path(app.env.doc2path(docname))
        if path.suffix != ".md" or not is_chapter(path):
            continue
        notebook = chapter_notebook(path, spec, site_url(owner, name) + f"{docname}.html")
        target = Path(app.outdir) / NOTEBOOK_DIR / docname
        _write_if_changed(target.with_suffix(".ipynb"), nbformat.writes(notebook) + "\n")
        script = copy.deepcopy(notebook)
        script.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
        _write_if_changed(target.with_suffix(".py"), jupytext.writes(script, fmt="py:percent"))
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
