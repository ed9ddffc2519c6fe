"""The built site in a real browser (Debian's Chromium driven by Playwright): pages load cleanly,
make no request to another host, render math, find words with search and show their images."""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlparse

import pytest

from conftest import toc_files

pytestmark = [pytest.mark.browser, pytest.mark.book]
PAGES = ["index.html", *(f"{name}.html" for name in toc_files())]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


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


class PageLog:
    """Everything a page did that a test may want to complain about."""

    def __init__(self, page, site_url):
        self.errors, self.failed, self.foreign = [], [], []
        host = urlparse(site_url).netloc
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} (HTTP {r.status})"))
        page.on("request", lambda r: urlparse(r.url).netloc not in (host, "") and not r.url.startswith("data:")
                and self.foreign.append(r.url))


def open_page(browser, site_url, path, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    log = PageLog(page, site_url)
    page.goto(f"{site_url}/{path}", wait_until="networkidle")
    return context, page, log


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly(browser, site_url, path):
    context, page, log = open_page(browser, site_url, path)
    try:
        page.wait_for_timeout(300)  # let deferred scripts finish
        assert log.errors == [], f"console errors on {path}"
        assert log.failed == [], f"failed requests on {path}"
        assert log.foreign == [], f"requests to other hosts from {path}"
        assert page.title()
        images = page.eval_on_selector_all(
            "article img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0, e.alt])")
        for src, loaded, alt in images:
            assert loaded, f"{src} did not load on {path}"
            assert alt, f"{src} has no alt text on {path}"
    finally:
        context.close()


@pytest.mark.parametrize("path", [p for p in PAGES if "tensors" in p or "linear_regression" in p])
def test_math_is_rendered_by_mathjax(browser, site_url, path):
    context, page, log = open_page(browser, site_url, path)
    try:
        page.wait_for_selector("mjx-container", timeout=15000)
        rendered = page.locator("mjx-container").count()
        raw = page.locator(".math").count()
        assert rendered >= raw > 5
        assert "\\frac" not in page.inner_text("article")  # no TeX left unrendered
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


def test_repository_buttons_point_at_the_configured_repository(browser, site_url):
    import yaml

    from conftest import ROOT

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    context, page, log = open_page(browser, site_url, "book/linear_regression.html")
    try:
        hrefs = page.eval_on_selector_all(".article-header-buttons a", "els => els.map(e => e.href)")
        assert f"{url}/edit/main/book/linear_regression.md" in hrefs
        assert any(h.startswith(f"{url}/issues/new") for h in hrefs)
        assert url in hrefs
    finally:
        context.close()


@pytest.mark.parametrize("path", PAGES[1:])
def test_phone_width_does_not_scroll_sideways(browser, site_url, path):
    context, page, log = open_page(browser, site_url, path, width=390)
    try:
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a phone"
    finally:
        context.close()
