"""The built site's reference pages and page descriptions: every page tells search engines what it
is about, the glossary is a real Sphinx glossary that chapters link into, and the notation
page's symbols are rendered as math."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from conftest import toc_files

pytestmark = pytest.mark.book
PAGES = toc_files()
REFERENCE = ("book/notation", "book/glossary")


class _MetaTags(HTMLParser):
    """Collects the attributes of every <meta> tag, whatever their order."""

    def __init__(self):
        super().__init__()
        self.tags: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "meta":
            self.tags.append({k: v or "" for k, v in attrs})


def page(build, name: str) -> str:
    return (build.html / f"{name}.html").read_text(encoding="utf-8")


def descriptions(markup: str) -> list[str]:
    parser = _MetaTags()
    parser.feed(markup.split("</head>", 1)[0])
    return [tag.get("content", "") for tag in parser.tags if tag.get("name") == "description"]


def source_description(build, name: str) -> str:
    import yaml

    text = (build.root / f"{name}.md").read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))
    return header["myst"]["html_meta"]["description lang=en"]


@pytest.mark.parametrize("name", PAGES)
def test_page_has_exactly_one_description_meta_tag_with_its_text(built_book, name):
    found = descriptions(page(built_book, name))
    assert len(found) == 1, f'{name} has {len(found)} <meta name="description"> tags'
    assert found[0] == source_description(built_book, name)
    assert 50 <= len(found[0]) <= 170


def test_glossary_page_is_a_sphinx_glossary(built_book):
    markup = page(built_book, "book/glossary")
    assert re.search(r'<dl class="[^"]*\bglossary\b', markup)
    terms = re.findall(r'<dt id="term-[^"]+"', markup)
    assert len(terms) >= 30


def test_chapters_link_to_glossary_entries_that_exist(built_book):
    glossary = page(built_book, "book/glossary")
    anchors = set(re.findall(r'<dt id="(term-[^"]+)"', glossary))
    linking = 0
    for name in PAGES:
        if name in REFERENCE:
            continue
        targets = set(re.findall(r'href="glossary\.html#(term-[^"]+)"', page(built_book, name)))
        assert targets <= anchors, f"{name} links glossary entries that do not exist: {targets - anchors}"
        linking += bool(targets)
    assert linking >= len(PAGES) - len(REFERENCE) - 1  # every chapter but (perhaps) the introduction


def test_notation_page_renders_math_and_links_chapters(built_book):
    markup = page(built_book, "book/notation")
    article = markup.split('<article class="bd-article">', 1)[-1].split("</article>", 1)[0]
    assert article.count('class="math notranslate nohighlight"') > 50
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', markup)
    assert any(s.startswith("../_static/mathjax/") for s in scripts), "MathJax is loaded from the site itself"
    outside_math = re.sub(r'<span class="math notranslate nohighlight">.*?</span>', "", article, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", outside_math))
    assert "$" not in text, "a $...$ that was not turned into math (a | inside math breaks a table row)"
    assert article.count("<table") >= 5
    for chapter in ("tensors", "linear_regression", "optimisation", "regularisation", "likelihood"):
        assert f'href="{chapter}.html' in article, f"the notation page should link {chapter}"


def test_reference_pages_are_not_executed(built_book):
    assert not built_book.executed() & set(REFERENCE)
