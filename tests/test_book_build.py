"""Build the book as `make book` does and check what a reader gets: every chapter, its figures
and glued numbers, no errors; and, on a small throwaway book, a build that fails loudly and
re-executes exactly what changed. (That a chapter executed twice reads the same is checked by
tests/test_notebooks.py, which runs every chapter's notebook a second time.)"""

from __future__ import annotations

import html
import re
import struct

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression

from conftest import ROOT, SMALL_BOOK, build_book, small_book, small_book_env, toc_files
from mlbook.data import load_penguins

pytestmark = pytest.mark.book
CHAPTERS = toc_files()
#: The pages with code (not the plain-Markdown appendices), which the build executes.
NOTEBOOKS = [name for name in CHAPTERS if "{code-cell}" in (ROOT / f"{name}.md").read_text(encoding="utf-8")]


def page(build, name: str) -> str:
    return (build.html / f"{name}.html").read_text(encoding="utf-8")


def visible_text(markup: str) -> str:
    """The article's text, without tags, scripts or image file names (which carry hashes)."""
    article = markup.split('<article class="bd-article">', 1)[-1].split("</article>", 1)[0]
    article = re.sub(r"<(script|style)\b.*?</\1>", "", article, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", article))).strip()


def test_clean_build_executes_every_chapter_without_warnings(built_book):
    assert built_book.executed() == set(NOTEBOOKS)
    assert "WARNING:" not in built_book.log and "build succeeded" in built_book.log  # Sphinx warnings


def test_cold_build_runs_chapters_in_parallel_and_myst_nb_reuses_every_result(built_book):
    """The pre-executed notebooks must match myst-nb's cache keys exactly, or every chapter would run twice."""
    assert "(in parallel" in built_book.log
    reused = set(re.findall(r"(\S+?)\.md: Using cached notebook", built_book.log))
    assert {str(built_book.root / name) for name in NOTEBOOKS} <= reused
    assert "Executing notebook using local CWD" not in built_book.log  # nothing ran a second time


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_page_is_complete(built_book, name):
    markup = page(built_book, name)
    source = (built_book.root / f"{name}.md").read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", source, re.MULTILINE).group(1)
    assert html.escape(title, quote=False) in markup
    text = visible_text(markup)
    assert "Traceback (most recent call last)" not in text
    outputs = " ".join(re.findall(r'<div class="cell_output docutils container">(.*?)</div>\s*</div>', markup, re.S))
    assert not re.search(r"\w+Error\b|\w+Warning\b", visible_text(outputs)), "an error or warning in a cell output"
    assert 'class="output stderr"' not in markup and "output traceback" not in markup
    assert "{glue" not in text, "an unresolved glue reference"
    assert "CC BY 4.0" in markup and "MIT licence" in markup, "the licences belong in every page's footer"


@pytest.mark.parametrize("name", CHAPTERS)
def test_figures_are_drawn_with_alt_text_and_captions(built_book, name):
    source = (built_book.root / f"{name}.md").read_text(encoding="utf-8")
    expected = source.count("\n  figure:\n")
    markup = page(built_book, name)
    figures = re.findall(r"<figure.*?</figure>", markup, flags=re.S)
    assert len(figures) == expected
    for figure in figures:
        image = re.search(r'<img [^>]*?alt="([^"]+)"[^>]*? src="([^"]+)"', figure)
        assert image, f"a figure without alt text in {name}"
        assert len(image.group(1)) > 40, "alt text should describe the figure"
        assert "<figcaption>" in figure
        png = (built_book.html / name).parent.joinpath(image.group(2)).resolve()
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width > 300 and height > 200


def test_glued_numbers_match_independent_computations(built_book):
    data = load_penguins(("flipper_length_mm", "body_mass_g"))
    m = data["flipper_length_mm"].shape[0]
    assert f"{m} penguins with both measurements" in visible_text(page(built_book, "book/intro"))

    # The chapter's exact answer, recomputed with scikit-learn in the chapter's units.
    x = ((data["flipper_length_mm"].double() - 200) / 10).numpy()[:, None]
    y = (data["body_mass_g"].double() / 1000).numpy()
    fit = LinearRegression().fit(x, y)
    text = visible_text(page(built_book, "book/linear_regression"))
    assert f"a ⋆ = {fit.coef_[0]:.4f} kg/cm" in text.replace("a^\\star", "a ⋆") or f"{fit.coef_[0]:.4f} kg/cm" in text
    assert f"{fit.intercept_:.4f} kg" in text
    assert f"about {fit.coef_[0] * 100:.0f} g of body mass" in text
    rmse = float(np.sqrt(np.mean((fit.predict(x) - y) ** 2)))
    assert f"about {rmse:.2f} kg on a typical penguin" in text
    negative = fit.predict(np.array([[(100 - 200) / 10]]))[0]
    assert f"100 mm flipper predicts {negative:.2f} kg" in text

    setup = visible_text(page(built_book, "book/setup"))
    assert f"built with torch {torch.__version__}" in setup


def test_math_is_typeset_when_the_site_is_built(built_book):
    # book/_ext/math_prerender.py (more in tests/test_math_prerender.py): no page loads MathJax.
    assert not (built_book.html / "_static" / "mathjax").exists()
    for name in CHAPTERS:
        markup = page(built_book, name)
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', markup)
        assert not [s for s in scripts if "://" in s], f"{name} loads a script from another host"
        assert not [s for s in scripts if "mathjax" in s.lower()], f"{name} loads MathJax"
        for inner in re.findall(r'<span class="math notranslate nohighlight">(.*?)</span>', markup, flags=re.S):
            assert inner.startswith('<mjx-container class="MathJax" jax="SVG"'), f"{name}: {inner[:80]}"
            assert "<mjx-assistive-mml" in inner, f"{name}: {inner[:80]}"


def test_measured_timings_are_marked_and_filled_in(built_book):
    markup = page(built_book, "book/multivariable")
    timing = re.search(r'<div class="measured-timing[^"]*">(.*?)</div>', markup, flags=re.S)
    assert timing, "the loop-versus-matrix timing should sit in a measured-timing block"
    ratio = re.search(r"about ([\d,]+) times faster", visible_text(timing.group(1)))
    assert ratio and int(ratio.group(1).replace(",", "")) > 10


@pytest.fixture
def small(tmp_path):
    """The three-chapter book of conftest.SMALL_BOOK, built cold once: every chapter executed."""
    root = small_book(tmp_path)
    cold = build_book(root, env=small_book_env(root))
    assert cold.returncode == 0, cold.log[-3000:]
    assert cold.executed() == {"book/intro", "book/alpha", "book/beta"}
    return root


def test_a_failing_cell_fails_the_build(small):
    chapter = small / "book" / "alpha.md"
    chapter.write_text(chapter.read_text() + "\n```{code-cell} ipython3\nraise RuntimeError('planted failure')\n```\n")
    build = build_book(small, env=small_book_env(small))
    assert build.returncode != 0
    assert "planted failure" in build.log


def test_rebuilds_execute_exactly_what_changed(small):
    env = small_book_env(small)

    def rebuild():
        build = build_book(small, env=env)
        assert build.returncode == 0, build.log[-3000:]
        return build

    assert rebuild().executed() == set()

    # An edit to a module re-executes the chapters that import it, directly or through another module.
    module = small / "code" / "mlbook" / "alpha.py"
    module.write_text("VALUE = 21\n")
    edited = rebuild()
    assert edited.executed() == {"book/alpha", "book/beta"}
    # Even a single chapter runs in mlbook's executor (which stops the kernel at once after the
    # last cell), and myst-nb then reuses its result instead of running it a second time.
    assert "(in parallel, 2 at a time) [mlbook]" in edited.log
    assert "Executing notebook using local CWD" not in edited.log
    assert "42" in visible_text(page(edited, "book/beta"))

    (small / "code" / "mlbook" / "beta.py").write_text(SMALL_BOOK["code/mlbook/beta.py"].replace("2 *", "3 *"))
    only_beta = rebuild()
    assert only_beta.executed() == {"book/beta"}
    assert "book/beta.md: Executing notebook (one at a time) [mlbook]" in only_beta.log
    assert "63" in visible_text(page(only_beta, "book/beta"))

    chapter = small / "book" / "alpha.md"
    chapter.write_text(chapter.read_text().replace("## The model\n", "## The model\n\nA freshly edited sentence.\n", 1))
    prose = rebuild()
    assert prose.executed() == set()
    assert "A freshly edited sentence." in visible_text(page(prose, "book/alpha"))

    # An edit to the book's own CSS alone reaches the site, with a new cache-busting checksum on
    # every page, and executes nothing. (Sphinx copies static files only when it writes pages.)
    stylesheet = small / "book" / "_static" / "mlbook.css"
    old_link = re.search(r"mlbook\.css\?v=\w+", page(prose, "book/beta")).group(0)
    stylesheet.write_text(stylesheet.read_text() + "\n/* a freshly edited rule */\n")
    styled = rebuild()
    assert styled.executed() == set()
    assert "a freshly edited rule" in (styled.html / "_static" / "mlbook.css").read_text()
    new_link = re.search(r"mlbook\.css\?v=\w+", page(styled, "book/beta")).group(0)
    assert new_link != old_link
    assert "no targets are out of date" in rebuild().log, "once copied, the stylesheet is not stale"


#: Runs in a fresh Python: each chapter's cells (JSON on stdin), in order, in one namespace per
#: chapter, from the chapter's folder; prints one JSON line per chapter: None, or the first failure.
_RUN_PASTED = """
import contextlib, io, json, os, sys, traceback
for doc, folder, cells in json.load(sys.stdin):
    os.chdir(folder)
    namespace, failure = {"__name__": "__main__"}, None
    for number, cell in enumerate(cells, 1):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell, f"{doc}, code block {number}", "exec"), namespace)
        except BaseException:
            failure = traceback.format_exc(limit=-2)
            break
    print(json.dumps([doc, failure]), flush=True)
"""
_CODE_BLOCK = re.compile(
    r'<div class="cell_input docutils container">\s*<div class="highlight-ipython3 notranslate">'
    r'<div class="highlight"><pre>(.*?)</pre>',
    re.S,
)


def shown_code(markup: str) -> list[str]:
    """The code cells a page shows (folded ones included), as a reader would copy them."""
    return [html.unescape(re.sub(r"<[^>]+>", "", block)) for block in _CODE_BLOCK.findall(markup)]


def test_code_a_reader_copies_from_each_page_runs_in_order(built_book):
    """Every page's code cells, pasted in order into a fresh Python, run: no cell needs a name that
    only a cell the page does not show defines (figures are drawn off screen)."""
    import json
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    chapters = [(name, str((built_book.root / name).parent), shown_code(page(built_book, name))) for name in NOTEBOOKS]
    assert all(cells for _, _, cells in chapters), "every page with code shows some"
    env = {**os.environ, "MPLBACKEND": "Agg"}

    def run(half):
        result = subprocess.run(
            [sys.executable, "-c", _RUN_PASTED],
            input=json.dumps(half),
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return [json.loads(line) for line in result.stdout.splitlines()]

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = [r for half in pool.map(run, (chapters[0::2], chapters[1::2])) for r in half]
    assert sorted(doc for doc, _ in reports) == sorted(NOTEBOOKS)
    failures = [f"{doc}:\n{failure}" for doc, failure in reports if failure]
    assert not failures, "\n\n".join(failures)


def test_shown_code_is_what_the_page_shows():
    markup = (
        '<div class="cell_input docutils container">\n<div class="highlight-ipython3 notranslate">'
        '<div class="highlight"><pre><span></span><span class="n">x</span> <span class="o">=</span> '
        '<span class="s2">&quot;a &lt; b&quot;</span>\n</pre></div>'
    )
    assert shown_code(markup) == ['x = "a < b"\n']


def test_the_setup_exercise_quotes_the_error_the_program_prints(built_book):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mlbook.linear_regression", "--device", "cpu", "--steps", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() in visible_text(page(built_book, "book/setup"))
