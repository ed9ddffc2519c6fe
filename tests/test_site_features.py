"""What the book's own Sphinx extensions add to the site: the execution stamp on every executed
page, the trimmed and repaired theme output (site_fixes), the one-chapter build, and the deploy
job that publishes the notebooks the Colab buttons open."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch
import yaml

import listing_captions
import notebooks
import site_fixes
from conftest import BIN, ROOT, Build, small_book, small_book_env, toc_files

CHAPTERS = [doc for doc in toc_files() if notebooks.is_chapter(ROOT / f"{doc}.md")]
STAMP = re.compile(
    r'<div class="measured-timing execution-stamp"><p>This page was executed on '
    r"(\d{4}-\d\d-\d\d at \d\d:\d\d UTC) with Python (\S+) and PyTorch (\S+), with tensors on "
    r"the (\w+) by default \((?:a|no) CUDA GPU was present\); running its code took ([\d.]+) s\.</p>"
)


@pytest.mark.book
@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_executed_page_says_when_and_with_what_it_ran(built_book, doc):
    page = (built_book.html / f"{doc}.html").read_text()
    stamps = STAMP.findall(page)
    assert len(stamps) == 1, f"{doc}: expected one execution stamp"
    when, python, torch_version, device, seconds = stamps[0]
    executed = datetime.strptime(when, "%Y-%m-%d at %H:%M UTC").replace(tzinfo=timezone.utc)
    assert timedelta(0) <= datetime.now(timezone.utc) - executed < timedelta(hours=2)  # this session's build
    assert python == platform.python_version()
    assert torch_version == torch.__version__
    assert device == str(torch.get_default_device()).upper()
    assert 0 < float(seconds) < 120  # the build's timeout


@pytest.mark.book
def test_pages_without_code_have_no_stamp(built_book):
    for doc in toc_files():
        if doc not in CHAPTERS:
            assert "execution-stamp" not in (built_book.html / f"{doc}.html").read_text(), doc


@pytest.mark.book
def test_no_page_loads_the_icon_script_and_the_github_icon_is_inline(built_book):
    pages = [p for p in built_book.html.rglob("*.html") if "_static" not in p.parts]
    assert len(pages) > len(toc_files())
    for page in pages:
        text = page.read_text()
        assert "fontawesome.js" not in text, page
        assert 'class="fab fa-github"' not in text, page
        assert 'aria-label="Toggle hidden content"' not in text, page
    chapter = (built_book.html / "book" / "linear_regression.html").read_text()
    assert '<svg class="mlbook-icon" viewBox="0 0 496 512"' in chapter
    assert 'role="complementary" aria-label="Book navigation"' in chapter


def test_page_fixes_are_idempotent_and_leave_other_markup_alone():
    page = (
        '<script defer src="../_static/scripts/fontawesome.js?digest=1"></script>\n<p>keep</p>'
        '<i class="fab fa-github"></i><summary aria-label="Toggle hidden content">'
        '<button class="btn search-button-field search-button__button pst-js-only" title="Search" '
        'aria-label="Search"><span class="search-button__kbd-shortcut">K</span></button>'
    )
    once = site_fixes.fix_page(page, "<svg/>")
    assert once == site_fixes.fix_page(once, "<svg/>")
    assert "fontawesome" not in once and "<p>keep</p>" in once and "<svg/>" in once
    assert "<summary>" in once and 'aria-label="Search"' not in once and 'title="Search"' in once
    assert '<span class="search-button__kbd-shortcut" aria-hidden="true">' in once
    assert site_fixes.fix_page('<i class="fab fa-github"></i>', None) == '<i class="fab fa-github"></i>'


def test_a_fix_that_no_page_got_is_reported():
    """When the theme's markup changes, the rewrite finds nothing to fix: the build must say so."""
    theme_page = '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar"><i class="fab fa-github"></i>'
    theme_page += '<script src="_static/documentation_options.js?v=1"></script><img alt="a" src="_images/a.png">'
    fixed = site_fixes.fix_page(theme_page, '<svg class="mlbook-icon"></svg>', "const DOCUMENTATION_OPTIONS = {};")
    assert site_fixes.missing_fixes([fixed]) == ["the search shortcut hidden from assistive technology"]
    assert len(site_fixes.missing_fixes(['<p>a new theme</p><img src="_images/a.png">'])) == len(site_fixes.FIXED_MARKS)
    # A site without figures has none to load lazily: that fix is not expected of it.
    assert "figures that load lazily" not in site_fixes.missing_fixes(["<p>a new theme</p>"])


@pytest.mark.book
def test_every_page_fix_applied_somewhere_in_the_real_build(built_book):
    pages = [p.read_text() for p in built_book.html.rglob("*.html") if "_static" not in p.parts]
    assert site_fixes.missing_fixes(pages) == []
    assert "site_fixes: no page got" not in built_book.log


THEME_HEAD = (
    '<script src="../_static/documentation_options.js?v=9eb32ce0"></script>\n'
    '<script src="../_static/doctools.js?v=9a2dae69"></script>\n'
    '<script data-sd-tabs-storage-prefix="x-" src="../_static/design-tabs.js?v=f"></script>\n'
    '<script async="async" src="../_static/sphinx-thebe.js?v=c"></script>\n'
    '<script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>\n'
    "<script>DOCUMENTATION_OPTIONS.pagename = 'book/x';</script>\n"
    '<script src="../_static/searchtools.js"></script>\n'
    '<script src="../_static/language_data.js"></script>\n'
    '<script src="../searchindex.js"></script>\n'
    '<img src="../_static/logo.svg" class="logo__image only-light" alt="Home">\n'
    '<img alt="A figure" src="../_images/abc.png">\n'
)


def test_search_scripts_leave_every_page_but_search_and_the_rest_are_deferred():
    options = "const DOCUMENTATION_OPTIONS = {VERSION: ''};"
    page = site_fixes.fix_page(THEME_HEAD, None, options)
    assert page == site_fixes.fix_page(page, None, options)
    assert "searchindex" not in page and "searchtools" not in page and "language_data" not in page
    assert page.index("DOCUMENTATION_OPTIONS = {") < page.index("DOCUMENTATION_OPTIONS.pagename")
    assert "documentation_options.js" not in page
    assert '<script defer src="../_static/doctools.js' in page
    assert "design-tabs.js" not in page  # no sphinx-design component on the page
    tabs = site_fixes.fix_page(THEME_HEAD + '<div class="sd-tab-set"></div>', None, options)
    assert '<script defer data-sd-tabs-storage-prefix="x-" src="../_static/design-tabs.js' in tabs
    assert '<script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>' in page  # as MathJax wrote it
    assert '<img loading="lazy" decoding="async" alt="A figure" src="../_images/abc.png">' in page
    assert '<img src="../_static/logo.svg"' in page
    assert site_fixes.leftover_scripts("book/x.html", page) == []
    search = site_fixes.fix_page(THEME_HEAD, None, options, search_page=True)
    assert '<script defer src="../searchindex.js"></script>' in search
    assert site_fixes.leftover_scripts("search.html", search) == []
    assert len(site_fixes.leftover_scripts("book/x.html", search)) == 3
    assert site_fixes.leftover_scripts("book/x.html", THEME_HEAD)  # unfixed: blocking and search scripts


def test_icon_css_keeps_only_the_icons_used_and_the_font_their_glyphs(tmp_path):
    import pydata_sphinx_theme
    from fontTools.ttLib import TTFont

    theme = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static"
    for name in (site_fixes.THEME_CSS, site_fixes.SOLID_FONT):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(theme / name, tmp_path / name)
    page = '<i class="fa-solid fa-rocket"></i>'
    assert site_fixes.slim_icon_css(tmp_path, [page]) == []
    css = (tmp_path / site_fixes.THEME_CSS).read_text()
    assert site_fixes.slim_icon_css(tmp_path, [page]) == [] and (tmp_path / site_fixes.THEME_CSS).read_text() == css
    assert '.fa-rocket:before{content:"\\f135"}' in css and ".fa-fill-drip:before" not in css
    assert "fa-solid-900.woff2" not in css and 'fa-solid-900.subset.woff) format("woff")' in css
    glyphs = set(TTFont(str(tmp_path / site_fixes.SUBSET_FONT)).getBestCmap())
    assert {0xF135, 0xF002, 0xF0EB, 0xF05A, 0xF071} <= glyphs  # rocket, search; tip, note, warning admonitions
    assert len(glyphs) < 60
    assert site_fixes.slim_icon_css(tmp_path, ['<i class="fa-solid fa-fill-drip"></i>']) == [
        "a page uses the icon fa-fill-drip, whose rule is dropped"
    ]


@pytest.mark.book
def test_one_chapter_builds_alone_executing_only_itself(tmp_path):
    root = small_book(tmp_path)
    shutil.copytree(ROOT / "scripts", root / "scripts")
    result = subprocess.run(
        [str(BIN / "python"), "scripts/build_chapter.py", "book/beta.md"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **small_book_env(root)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Built book/beta.md" in result.stdout and "0 warning(s)" in result.stdout
    log = (root / "_build" / "chapter" / "build.log").read_text()
    assert Build(root, 0, log).executed() == {"book/beta"}
    page = (root / "_build" / "chapter" / "_build" / "html" / "book" / "beta.html").read_text()
    assert re.search(r"This page was executed on .* running its code took [\d.]+ s", page)
    assert (root / "_build" / ".jupyter_cache").is_dir(), "the chapter's outputs go into the book's cache"


def test_one_chapter_build_rejects_what_is_not_a_chapter():
    result = subprocess.run(
        [str(BIN / "python"), "scripts/build_chapter.py", "README.md"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "expected a chapter file under book/" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_publishes_the_notebooks_where_the_colab_buttons_look():
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    uploads = [s for s in deploy["jobs"]["build"]["steps"] if s.get("with", {}).get("name") == "notebooks"]
    assert uploads and uploads[0]["with"]["path"] == f"_build/html/{notebooks.NOTEBOOK_DIR}"
    job = deploy["jobs"]["notebooks"]
    assert job["permissions"] == {"contents": "write"}
    push = "\n".join(step.get("run", "") for step in job["steps"])
    assert f"git init -q -b {notebooks.NOTEBOOKS_BRANCH}" in push
    assert re.search(rf"git push --force \S+ {notebooks.NOTEBOOKS_BRANCH}$", push.strip())


def test_listing_captions_name_the_module_and_the_import():
    text = (
        "Text.\n\n```{literalinclude} ../code/mlbook/optimisation.py\n:language: python\n"
        ":pyobject: Adam.step\n```\n\n````{literalinclude} ../code/mlbook/data.py\n"
        ":start-after: start\n````\n\n```{literalinclude} ../code/mlbook/basis.py\n"
        ":caption: Mine\n```\n"
    )
    out = listing_captions.add_captions(text)
    assert ":caption: From code/mlbook/optimisation.py: `from mlbook.optimisation import Adam`\n" in out
    assert ":caption: From code/mlbook/data.py\n" in out
    assert out.count(":caption:") == 3  # a listing with its own caption keeps it
    assert listing_captions.add_captions(out) == out
    assert (
        out.replace(":caption: From code/mlbook/optimisation.py: `from mlbook.optimisation import Adam`\n", "").replace(
            ":caption: From code/mlbook/data.py\n", ""
        )
        == text
    )


@pytest.mark.book
@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_listing_of_package_code_says_where_it_comes_from(built_book, doc):
    """A listing pasted alone may call the module's private helpers: its caption says that it is
    the package's code and how to import it (second review of Parts I and II)."""
    source = (ROOT / f"{doc}.md").read_text()
    listings = len(listing_captions.LISTING.findall(source))
    page = (built_book.html / f"{doc}.html").read_text()
    captions = re.findall(r'<span class="caption-text">From code/mlbook/(\w+)\.py', page)
    assert len(captions) == listings, f"{doc}: {listings} package listings, {len(captions)} captioned"


def test_home_page_is_the_root_page_with_its_addresses_rewritten_for_the_top_folder():
    """index.html is book/intro.html itself (no redirect): every relative address leads to the
    same file from the site's top folder; absolute ones and fragments are left alone."""
    page = (
        '<html lang="en" data-content_root="../"><head><link rel="stylesheet" href="../_static/a.css?v=1" />'
        '</head><body><a href="setup.html#setup">s</a> <a href="#top">t</a> <a href="">self</a>'
        '<a href="https://pytorch.org">p</a> <img src="../_images/f.png"> <form action="../search.html">'
        '<use xlink:href="#glyph"/><a href="../_notebooks/book/intro.ipynb">n</a></body></html>'
    )
    home = site_fixes.root_copy(page, "book/intro.html")
    for expected in (
        'data-content_root="./"',
        'href="_static/a.css?v=1"',
        'href="book/setup.html#setup"',
        'href="#top"',
        'href="book/intro.html"',
        'href="https://pytorch.org"',
        'src="_images/f.png"',
        'action="search.html"',
        'xlink:href="#glyph"',
        'href="_notebooks/book/intro.ipynb"',
    ):
        assert expected in home, expected
    assert '<meta name="mlbook-root-copy" content="book/intro.html">' in home
    assert "../" not in home


def test_design_and_thebe_assets_leave_pages_that_do_not_use_them():
    head = (
        '<link rel="stylesheet" type="text/css" href="../_static/sphinx-thebe.css?v=4" />\n'
        '<link rel="stylesheet" type="text/css" href="../_static/sphinx-design.min.css?v=6" />\n'
        '<script defer data-sd-tabs-storage-prefix="x-" src="../_static/design-tabs.js?v=f"></script>\n'
        '<script>const THEBE_JS_URL = "https://unpkg.com/thebe"; const thebe_selector = ".thebe"</script>\n'
        '<script async="async" src="../_static/sphinx-thebe.js?v=c"></script>\n'
        '<script type="text/x-thebe-config">\n{ requestKernel: true }\n</script>\n<p>keep</p>'
    )
    plain = site_fixes.fix_page(head, None)
    assert "thebe" not in plain.lower() and "design" not in plain and "<p>keep</p>" in plain
    assert plain == site_fixes.fix_page(plain, None)
    # A page with a sphinx-design component or a Thebe button keeps what it uses.
    both = site_fixes.fix_page(head + '<div class="sd-tab-set"></div><button class="thebe-launch-button">', None)
    assert "sphinx-design.min.css" in both and "design-tabs.js" in both and "sphinx-thebe.js" in both


@pytest.mark.book
def test_the_home_page_is_the_root_page_not_a_redirect(built_book):
    home = (built_book.html / "index.html").read_text()
    assert "http-equiv" not in home.lower()
    assert '<meta name="mlbook-root-copy" content="book/intro.html">' in home
    for url in re.findall(r'(?:href|src|action)="([^"#:]+?)(?:[?#][^"]*)?"', home):
        assert (built_book.html / url).exists(), f"index.html links to {url}, which is not in the site"
