"""The built site in a real browser (Debian's Chromium driven by Playwright): pages load cleanly,
make no request to another host, pass axe-core's accessibility checks at desktop and phone width,
stay light, render math, find words with search, show their images, and offer working notebook,
script and Colab links."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import os
import queue
import re
import shutil
import statistics
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

import notebooks
import site_fixes
from conftest import ROOT, _QuietHandler, toc_files

pytestmark = [pytest.mark.browser, pytest.mark.book]
PAGES = ["index.html", *(f"{name}.html" for name in toc_files()), "search.html", "genindex.html"]
CHAPTERS = [doc for doc in toc_files() if notebooks.is_chapter(ROOT / f"{doc}.md")]
PHONE = 390
#: axe-core, installed from package.json by `make test` (npm ci).
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: Where the screenshots and the page-weight report go (under the ignored _build folder).
REPORTS = ROOT / "_build" / "browser-report"
#: Page weight budget, in bytes of response bodies: the heaviest chapter weighed 4.2 MB before
#: fontawesome.js and the brand webfont were cut, and about 2.6 MB after (MathJax is 1.1 MB).
BUDGET = 3_000_000
#: Issue 12's limits on what a cold load transfers, gzipped as GitHub Pages serves text: the
#: median page and the heaviest page (index.html, a copy of book/intro.html, is left out).
MEDIAN_LIMIT, HEAVIEST_LIMIT = 400 * 1024, 600 * 1024
#: What GitHub Pages compresses (text); images and fonts travel as they are.
GZIPPED = {".html", ".css", ".js", ".json", ".svg", ".txt", ".xml", ".map", ".ipynb", ".py", ""}
#: The scripts only the search page uses (the theme put them on every page; site_fixes drops them).
SEARCH_SCRIPTS = ("searchindex.js", "searchtools.js", "language_data.js")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> str | None:
    """Debian's chromium here and in .ci/run; GitHub's runners ship Google Chrome."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; in CI the browser tests must run")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _axe() -> str | None:
    """axe-core's script, or None where it is missing on a contributor's machine (in CI: a failure)."""
    if AXE.is_file():
        return AXE.read_text(encoding="utf-8")
    if os.environ.get("CI") == "true":
        pytest.fail(f"axe-core is not installed ({AXE.relative_to(ROOT)}); in CI the accessibility tests must run")
    return None


@pytest.fixture(scope="module")
def axe_source() -> str:
    source = _axe()
    if source is None:
        pytest.skip(f"axe-core is not installed ({AXE.relative_to(ROOT)}): run `npm ci` (make test does)")
    return source


def axe_violations(page, axe_source: str | None) -> list[str] | None:
    """axe-core's violations on the page (every rule axe runs by default), one line each."""
    if axe_source is None:
        return None
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(
        "async () => (await axe.run(document)).violations.map("
        "v => [v.id, v.impact, v.nodes.map(n => n.target.join(' '))])"
    )
    return [f"{rule} ({impact}): {', '.join(targets[:5])}" for rule, impact, targets in violations]


class PageLog:
    """Everything a page did that a test may want to complain about."""

    def __init__(self, page, site_url):
        self.errors, self.failed, self.foreign = [], [], []
        self.sizes: dict[str, int] = {}
        page.on("requestfinished", lambda r: self.sizes.__setitem__(r.url, r.sizes()["responseBodySize"]))
        host = urlparse(site_url).netloc
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))
        page.on(
            "request",
            lambda r: (
                urlparse(r.url).netloc not in (host, "")
                and not r.url.startswith("data:")
                and self.foreign.append(r.url)
            ),
        )


def open_page(browser, site_url, path, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    log = PageLog(page, site_url)
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    return context, page, log


def settle(page) -> None:
    """Wait until the page is as a reader sees it: fonts loaded, and the theme's debounced (300 ms)
    update of which scrolling blocks can take focus done (axe checks those tab stops)."""
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(400)


def screenshot(page, kind: str, path: str) -> Path:
    target = REPORTS / "screenshots" / kind / path.replace("/", "__").replace(".html", ".png")
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    return target


def assert_real_screenshot(target: Path, width: int) -> None:
    """A PNG of the viewport's width that is not blank (a blank page compresses to almost nothing)."""
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == width
    assert len(data) > 15_000, f"{target} looks blank ({len(data)} bytes)"


#: Code in the book is formatted to 88 columns (scripts/format_chapters.py, code/ruff.toml).
CODE_BLOCKS = ".cell_input pre, div[class*=highlight-python] pre, div[class*=highlight-ipython] pre"
#: A common laptop width, and the narrowest article column from 1024 to 1440 px outside the
#: 1200-1260 px band (where the contents sidebar appears): 1024 px gives 733 px of code, 1366 px
#: 730 px, 1280 px only 666 px. It is also the width of every desktop visit.
LAPTOP = 1280


@dataclass
class Visit:
    """What one load of a page showed: each page is loaded once at desktop and once at phone
    width, and the tests below check what these visits recorded (rather than loading it again)."""

    log: PageLog
    title: str = ""
    images: list = field(default_factory=list)
    axe: list[str] | None = None  # None: axe-core is not installed
    screenshot: Path | None = None
    overflow: int = 0
    axe_dark: list[str] | None = None
    theme_after_switch: str = ""
    header_links: list = field(default_factory=list)
    code_blocks: list = field(default_factory=list)
    cold_sizes: dict = field(default_factory=dict)  # response bodies of the cold load (lazy images unloaded)
    icons: list = field(default_factory=list)  # [classes, ::before content, font family, weight] per icon


def visit_desktop(browser, site_url, axe_source, path) -> Visit:
    """Load the page at LAPTOP width; run axe in the light theme, switch to the dark theme with the
    theme's own button and run axe again, then open every folded cell and measure the code."""
    context, page, log = open_page(browser, site_url, path, width=LAPTOP)
    try:
        settle(page)
        result = Visit(log=log, title=page.title(), cold_sizes=dict(log.sizes))
        result.icons = page.evaluate(ICONS_SHOWN)
        # Figures load lazily (site_fixes): bring them all in to check that each one loads.
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(e => e.loading = 'eager')")
        page.wait_for_function("[...document.querySelectorAll('article img')].every(e => e.complete)")
        result.images = page.eval_on_selector_all(
            "article img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0, e.alt])"
        )
        result.header_links = page.eval_on_selector_all(
            ".article-header-buttons a", "els => els.map(e => [e.textContent.trim(), e.href])"
        )
        result.axe = axe_violations(page, axe_source)
        result.screenshot = screenshot(page, "desktop", path)
        switch = page.locator(".theme-switch-button:visible")
        if switch.count():
            for _ in range(3):  # the button cycles light -> auto -> dark
                if page.evaluate("document.documentElement.dataset.theme") == "dark":
                    break
                switch.first.click()
            result.theme_after_switch = page.evaluate("document.documentElement.dataset.theme")
            # The theme's colours change by CSS transitions: let them end, or axe reads a colour halfway.
            page.mouse.move(0, 0)
            page.wait_for_function("!document.getAnimations().some(a => a instanceof CSSTransition)")
            result.axe_dark = axe_violations(page, axe_source)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        result.code_blocks = page.evaluate(
            f"""() => [...document.querySelectorAll({CODE_BLOCKS!r})].map(e => ({{
                overflow: e.scrollWidth - e.clientWidth,
                width: e.clientWidth,
                longest: Math.max(...e.textContent.split("\\n").map(line => line.length)),
            }}))"""
        )
        return result
    finally:
        context.close()


#: Every element that draws a Font Awesome glyph (its ::before or ::after in the icon font), or
#: carries an fa-* class: its classes, the pseudo-element's content, font family and weight.
ICONS_SHOWN = """() => [...document.querySelectorAll('*')].flatMap(e => ['::before', '::after'].map(p => {
    const style = getComputedStyle(e, p);
    const classes = typeof e.className === 'string' ? e.className : '';
    const drawn = style.fontFamily.includes('Font Awesome') && !['none', 'normal'].includes(style.content);
    return drawn || (p === '::before' && /(^|\\s)fa-/.test(classes))
        ? [classes, style.content, style.fontFamily, style.fontWeight] : null;
})).filter(x => x)"""


def visit_phone(browser, site_url, axe_source, path) -> Visit:
    context, page, log = open_page(browser, site_url, path, width=PHONE)
    try:
        settle(page)
        result = Visit(log=log, title=page.title())
        result.overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        result.axe = axe_violations(page, axe_source)
        result.screenshot = screenshot(page, "phone", path)
        return result
    finally:
        context.close()


#: Every page at desktop width, every page but the home page (book/intro.html again) at phone width.
VISITS = [("desktop", path) for path in PAGES] + [("phone", path) for path in PAGES[1:]]


@pytest.fixture(scope="module")
def visits(browser, site_url):
    """Every visit of VISITS, made up front by two browsers at once (axe-core's checks take most of
    the time and each uses one core). A visit that raised holds its exception, re-raised by its tests."""
    axe = _axe()
    pending = queue.SimpleQueue()
    for item in sorted(VISITS, key=lambda item: item[0] != "desktop"):  # the longer visits first
        pending.put(item)
    made = {}

    def worker():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:  # one Playwright per thread: its API is not thread-safe
            instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                while True:
                    try:
                        kind, path = pending.get_nowait()
                    except queue.Empty:
                        return
                    visit = visit_desktop if kind == "desktop" else visit_phone
                    try:
                        made[kind, path] = visit(instance, site_url, axe, path)
                    except Exception as error:  # noqa: BLE001 (reported by the page's own tests)
                        made[kind, path] = error
            finally:
                instance.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made


def _recorded(visits, kind: str, path: str) -> Visit:
    visit = visits[kind, path]
    if isinstance(visit, Exception):
        raise visit
    return visit


@pytest.fixture(scope="module")
def desktop(visits):
    """desktop(path): what the page's visit at desktop width recorded."""
    return functools.partial(_recorded, visits, "desktop")


@pytest.fixture(scope="module")
def phone(visits):
    """phone(path): what the page's visit at phone width recorded."""
    return functools.partial(_recorded, visits, "phone")


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_passes_axe_and_stays_light(desktop, path):
    """(Without axe-core on a contributor's machine, everything but the axe check.)"""
    visit = desktop(path)
    log = visit.log
    assert log.errors == [], f"console errors on {path}"
    assert log.failed == [], f"failed requests on {path}"
    assert log.foreign == [], f"requests to other hosts from {path}"
    assert visit.title
    for src, loaded, alt in visit.images:
        assert loaded, f"{src} did not load on {path}"
        assert alt, f"{src} has no alt text on {path}"
    weight = sum(log.sizes.values())
    record_weight(path, weight, log.sizes)
    assert not [u for u in log.sizes if "fontawesome.js" in u or "fa-brands" in u], "icon script/font is back"
    assert weight < BUDGET, f"{path} weighs {weight:,} bytes (budget {BUDGET:,})"
    assert visit.axe in ([], None), f"axe-core violations on {path}: {visit.axe}"
    assert_real_screenshot(visit.screenshot, LAPTOP)


def record_weight(path: str, weight: int, sizes: dict[str, int], transferred: dict[str, int] | None = None) -> None:
    """Add the page's weight to _build/browser-report/page-weight.json (for the bench and reviews):
    response bodies, and (`transferred`) what a cold load moves gzipped, per URL."""
    report = REPORTS / "page-weight.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(report.read_text()) if report.is_file() else {}
    entry = data.setdefault(path, {})
    if transferred is None:
        heaviest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
        entry.update(bytes=weight, requests=len(sizes), heaviest={urlparse(url).path: size for url, size in heaviest})
    else:
        heaviest = sorted(transferred.items(), key=lambda item: -item[1])[:8]
        entry.update(
            cold_gzip_bytes=sum(transferred.values()),
            cold_requests=len(transferred),
            cold_heaviest={urlparse(url).path: size for url, size in heaviest},
        )
    report.write_text(json.dumps(data, indent=2, sort_keys=True))


@functools.cache
def _gzipped_size(file: Path) -> int:
    return len(gzip.compress(file.read_bytes(), compresslevel=6, mtime=0))


def transferred(sizes: dict[str, int], html: Path) -> dict[str, int]:
    """Bytes each response of a load takes on the wire from GitHub Pages: text gzipped (level 6,
    as scripts/lighthouse.py serves it), everything else (images, fonts) as it is."""
    result = {}
    for url, size in sizes.items():
        path = urlparse(url).path.lstrip("/")
        file = html / path if path else html / "index.html"
        if file.is_dir():
            file = file / "index.html"
        result[url] = _gzipped_size(file) if file.is_file() and file.suffix in GZIPPED else size
    return result


def cold_weights(desktop, html: Path) -> dict[str, int]:
    """Gzipped bytes of each page's cold load (PAGES but the home page, a copy of book/intro.html)."""
    weights = {}
    for path in PAGES[1:]:
        sizes = transferred(desktop(path).cold_sizes, html)
        record_weight(path, 0, {}, sizes)
        weights[path] = sum(sizes.values())
    return weights


def assert_within_limits(weights: dict[str, int]) -> None:
    median, (heaviest, most) = statistics.median(weights.values()), max(weights.items(), key=lambda kv: kv[1])
    assert median <= MEDIAN_LIMIT, (
        f"the median page moves {median / 1024:.0f} KB gzipped (limit {MEDIAN_LIMIT // 1024})"
    )
    assert most <= HEAVIEST_LIMIT, f"{heaviest} moves {most / 1024:.0f} KB gzipped (limit {HEAVIEST_LIMIT // 1024})"


def test_cold_loads_are_within_the_weight_limits(desktop, built_book):
    """Issue 12's limits: the median page moves at most 400 KB gzipped on a cold load, the heaviest
    at most 600 KB (the mathematics is typeset when the site is built: no MathJax to load)."""
    assert_within_limits(cold_weights(desktop, built_book.html))


@pytest.mark.parametrize("path", PAGES)
def test_no_page_loads_a_script_it_does_not_use(desktop, path):
    """The search scripts and index on search.html only; never the icon script."""
    scripts = [urlparse(url).path for url in desktop(path).cold_sizes if urlparse(url).path.endswith(".js")]
    search = [s for s in scripts if s.endswith(SEARCH_SCRIPTS)]
    if path == "search.html":
        assert len(search) == len(SEARCH_SCRIPTS), scripts
    else:
        assert search == [], f"{path} loads the search scripts"
    assert not [s for s in scripts if "fontawesome" in s], scripts


@functools.lru_cache(maxsize=1)
def _solid_glyphs(html: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(html / "_static" / site_fixes.SUBSET_FONT)).getBestCmap())


@functools.lru_cache(maxsize=1)
def _theme_icons() -> frozenset[str]:
    """Every icon name the theme's Font Awesome knows (the cut stylesheet keeps only ICONS)."""
    css = site_fixes._theme_css().read_text()
    return frozenset(name for m in site_fixes._RULE.finditer(css) for name in site_fixes._icon_names(m[1]))


@pytest.mark.parametrize("path", PAGES[1:])
def test_every_icon_on_a_page_has_its_rule_and_its_glyph(desktop, built_book, path):
    """Icons in the page and those the theme's scripts add (the theme button's sun and moon), and
    the admonition and toctree icons drawn by CSS: each keeps its rule in the cut stylesheet, and
    the solid glyphs are in the cut font."""
    icons = desktop(path).icons
    glyphs = _solid_glyphs(built_book.html)
    names = _theme_icons()
    assert any("fa-magnifying-glass" in classes for classes, *_ in icons), "the search icon should be seen"
    for classes, content, family, weight in icons:
        for name in {c[3:] for c in classes.split() if c.startswith("fa-")} & names:
            assert content not in ("none", "normal"), f"fa-{name} on {path} lost its CSS rule"
        if "Font Awesome 6 Free" in family and weight == "900":
            missing = [hex(ord(c)) for c in content if 0xE000 <= ord(c) <= 0xF8FF and ord(c) not in glyphs]
            assert not missing, f"{classes!r} on {path} draws {missing}, not in {site_fixes.SUBSET_FONT.name}"


def test_figures_load_lazily_and_the_logo_at_once(built_book):
    chapter = (built_book.html / "book" / "linear_regression.html").read_text()
    images = re.findall(r"<img [^>]*>", chapter)
    figures = [tag for tag in images if "_images/" in tag]
    assert figures and all('loading="lazy"' in tag and 'decoding="async"' in tag for tag in figures)
    assert all("loading=" not in tag for tag in images if "logo" in tag)


@pytest.mark.parametrize("path", [p for p in PAGES if "tensors" in p or "linear_regression" in p])
def test_math_is_typeset_svg_with_mathml_and_no_mathjax_script(browser, site_url, path):
    context, page, log = open_page(browser, site_url, path)
    try:
        # Typeset when the site was built (book/_ext/math_prerender.py): no MathJax in the browser.
        assert not [u for u in log.sizes if "mathjax" in u.lower()], "a MathJax file was loaded"
        assert page.evaluate("typeof window.MathJax") == "undefined"
        raw = page.locator("article .math").count()
        assert raw > 5
        assert page.locator("article .math > mjx-container > svg").count() == raw
        assert page.locator("article .math > mjx-container > mjx-assistive-mml > math").count() == raw
        # Every glyph a formula uses is defined on the page (the shared, hidden glyph cache).
        missing = page.evaluate(
            """() => [...document.querySelectorAll('mjx-container use')]
                 .map(u => u.getAttribute('xlink:href') || u.getAttribute('href'))
                 .filter(h => !document.getElementById(h.slice(1)))"""
        )
        assert missing == []
        text = page.inner_text("article")
        assert "\\frac" not in text and "\\(" not in text and "\\[" not in text  # no TeX left
    finally:
        context.close()


@pytest.mark.parametrize("word, expected", [("broadcasting", "tensors"), ("extrapolation", "linear_regression")])
def test_search_finds_a_word_from_a_chapter(browser, site_url, word, expected):
    context, page, log = open_page(browser, site_url, f"search.html?q={word}")
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=15000)
        links = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
        assert any(expected in link for link in links), links
        assert log.errors == [] and log.foreign == []
    finally:
        context.close()


def test_ctrl_k_on_a_chapter_searches_on_the_search_page(browser, site_url):
    """Chapters no longer load the search index: the Ctrl+K field submits to search.html, which does."""
    context, page, log = open_page(browser, site_url, "book/linear_regression.html")
    try:
        # Chromium can drop a key pressed before the page's first frame is drawn (measured: 3 of
        # 10 presses right after load opened nothing, a second press always did; none of 20
        # after two animation frames): wait for them, as a reader's hands always do.
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        page.keyboard.press("Control+K")
        field = page.locator("#pst-search-dialog input[name=q]")
        field.wait_for(state="visible", timeout=5000)
        field.fill("broadcasting")
        with page.expect_navigation():
            field.press("Enter")
        assert "search.html?q=broadcasting" in page.url
        page.wait_for_selector("#search-results ul.search li", timeout=15000)
        links = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
        assert any("tensors" in link for link in links), links
        assert log.errors == [] and log.foreign == []
    finally:
        context.close()


def test_repository_buttons_point_at_the_configured_repository(desktop):
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    hrefs = [href for _, href in desktop("book/linear_regression.html").header_links]
    assert f"{url}/edit/main/book/linear_regression.md" in hrefs
    assert any(h.startswith(f"{url}/issues/new") for h in hrefs)
    assert url in hrefs


@pytest.mark.parametrize("path", PAGES[1:])
def test_phone_width_does_not_scroll_sideways_and_passes_axe(phone, path):
    visit = phone(path)
    assert visit.overflow <= 0, f"{path} is {visit.overflow}px wider than a phone"
    assert visit.axe in ([], None), f"axe-core violations on {path} at phone width: {visit.axe}"
    assert_real_screenshot(visit.screenshot, PHONE)


@pytest.mark.parametrize("path", [f"{doc}.html" for doc in CHAPTERS])
def test_code_does_not_scroll_sideways_on_a_laptop(desktop, path):
    """The 88 columns the code is formatted to fit the article column, hidden cells included."""
    blocks = desktop(path).code_blocks
    assert blocks, f"no code blocks found on {path}"
    assert all(block["width"] > 0 for block in blocks), "a code block is still folded away"
    scrolling = [block for block in blocks if block["overflow"] > 0]
    assert not scrolling, f"{len(scrolling)} code blocks on {path} scroll sideways at {LAPTOP} px: {scrolling}"
    assert max(block["longest"] for block in blocks) > 70, "the check should see some long lines"


@pytest.mark.parametrize("width", [1000, LAPTOP, 1600])
def test_wide_screens_show_one_search_field_and_the_logo(browser, site_url, width):
    context, page, log = open_page(browser, site_url, "book/linear_regression.html", width=width)
    try:
        fields = page.eval_on_selector_all(
            ".search-button-field", "els => els.filter(e => e.getBoundingClientRect().height > 0).length"
        )
        assert fields == 1, f"{fields} search fields visible at {width}px"
        logo = page.locator(".bd-sidebar-primary .logo__image.only-light").bounding_box()
        assert logo and logo["y"] >= 0 and logo["height"] > 20
        heading = page.locator("article h1").bounding_box()
        assert heading and heading["y"] < 150, "the chapter should start at the top of the window"
    finally:
        context.close()


@pytest.mark.parametrize("path", PAGES[1:])
def test_dark_theme_passes_axe(desktop, axe_source, path):
    visit = desktop(path)
    assert visit.theme_after_switch == "dark", f"the theme button did not switch {path} to the dark theme"
    assert visit.axe_dark == [], f"axe-core violations on {path} in the dark theme: {visit.axe_dark}"


def test_a_stored_dark_theme_applies_when_a_page_loads(browser, site_url, axe_source):
    """A reader who chose the dark theme gets it on the next page they open."""
    context = browser.new_context(viewport={"width": LAPTOP, "height": 900})
    page = context.new_page()
    page.add_init_script("localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
    try:
        page.goto(f"{site_url}/book/linear_regression.html", wait_until="networkidle")
        settle(page)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert axe_violations(page, axe_source) == []
    finally:
        context.close()


@pytest.mark.parametrize("doc", CHAPTERS)
def test_chapter_offers_notebook_script_and_colab_links_that_work(browser, site_url, desktop, doc):
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    owner, name = repository.removeprefix("https://github.com/").split("/")
    links = dict(desktop(f"{doc}.html").header_links)
    assert links["Colab"] == f"https://colab.research.google.com/github/{owner}/{name}/blob/notebooks/{doc}.ipynb"
    assert links[".ipynb"] == f"{site_url}/_notebooks/{doc}.ipynb"
    assert links[".py"] == f"{site_url}/_notebooks/{doc}.py"
    context = browser.new_context()
    try:
        notebook = context.request.get(links[".ipynb"])
        assert notebook.ok
        data = json.loads(notebook.body())
        assert data["nbformat"] == 4 and data["metadata"]["kernelspec"]["name"] == "python3"
        assert "mlbook @ git+" in "".join(data["cells"][2]["source"])
        script = context.request.get(links[".py"])
        assert script.ok and "# %%" in script.text()
    finally:
        context.close()


class _PagesHandler(_QuietHandler):
    """Serves the site as GitHub Pages does for a project: under /<repository>/, with the site's
    404.html (and status 404) for any address that has no file."""

    prefix = "/"

    def send_head(self):
        path = urlparse(self.path).path
        if path.startswith(self.prefix):
            self.path = "/" + path[len(self.prefix) :]
            if Path(self.translate_path(self.path)).exists():
                return super().send_head()
        body = (Path(self.directory) / "404.html").read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


@pytest.fixture(scope="module")
def pages_url(built_book):
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    handler = type("Handler", (_PagesHandler,), {"prefix": f"/{repository.rstrip('/').split('/')[-1]}/"})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(built_book.html))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{handler.prefix}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("missing", ["no-such-page.html", "book/old/chapter/deep.html"])
def test_missing_page_gets_a_helpful_404_that_loads_its_styles(browser, pages_url, axe_source, missing):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log = PageLog(page, pages_url)
    try:
        response = page.goto(pages_url + missing, wait_until="networkidle")
        settle(page)
        assert response.status == 404
        assert page.title().startswith("Page not found")
        # Chromium logs the 404 of the page itself; every file the 404 page uses must load, at any depth.
        assert [f for f in log.failed if missing not in f] == []
        assert [e for e in log.errors if "status of 404" not in e] == [] and len(log.errors) <= 1
        assert log.foreign == []
        assert page.evaluate("getComputedStyle(document.body).fontFamily") != "", "styles did not load"
        assert axe_violations(page, axe_source) == []
        page.click("text=the first page")
        page.wait_for_load_state("networkidle")
        # The home page: index.html is the first page itself (site_fixes.root_copy), not a redirect.
        assert page.url.endswith(("/book/index.html", "/book/intro.html")) and "Page not found" not in page.title()
    finally:
        context.close()
