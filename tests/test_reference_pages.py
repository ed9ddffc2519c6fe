"""The built site's reference pages and page descriptions: every page tells search engines what it
is about, the glossary is a real Sphinx glossary that chapters link into, and the notation
page's symbols are rendered as math."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

import math_prerender
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
    assert not [s for s in scripts if "mathjax" in s.lower()], "the math is typeset at build time"
    # Every formula as SVG with MathML for screen readers (book/_ext/math_prerender.py), no TeX left.
    formulas = re.findall(r'<span class="math notranslate nohighlight">(.*?)</span>', article, flags=re.S)
    assert all("<svg" in f and "<mjx-assistive-mml" in f for f in formulas), "a formula was not typeset"
    outside_math = re.sub(r'<span class="math notranslate nohighlight">.*?</span>', "", article, flags=re.S)
    assert "\\(" not in outside_math and "\\[" not in outside_math
    text = html.unescape(re.sub(r"<[^>]+>", " ", outside_math))
    assert "$" not in text, "a $...$ that was not turned into math (a | inside math breaks a table row)"
    assert article.count("<table") >= 5
    for chapter in ("tensors", "linear_regression", "optimisation", "regularisation", "likelihood"):
        assert f'href="{chapter}.html' in article, f"the notation page should link {chapter}"


def test_reference_pages_are_not_executed(built_book):
    assert not built_book.executed() & set(REFERENCE)


# --- The mathematics refresher (errata X4) and the terms readers meet before their explanation ---

#: The refresher's sections, by label, and the chapters that link each one where the idea is first used.
MATH_SECTIONS = {
    "math-derivatives": ["book/tensors"],
    "math-chain-rule": ["book/tensors"],
    "math-gradients": ["book/linear_regression"],
    "math-matrices": ["book/tensors", "book/multivariable"],
    "math-eigenvalues": [],  # reached through the glossary's eigenvalue, eigenvector and Hessian entries
}

#: Terms a reader meets before (or without) the chapter that explains them: each has a glossary entry,
#: and the chapter where it first appears links it.
EARLY_TERMS = {
    "epoch": "book/optimisation",
    "learning rate": "book/linear_regression",
    "seed": "book/tensors",
    "converge": "book/linear_regression",
    "Gaussian": "book/linear_regression",
    "uniform distribution": "book/tensors",
    "standard deviation": "book/optimisation",
    "eigenvalue": "book/linear_regression",
    "eigenvector": "book/optimisation",
    "Hessian": "book/optimisation",
    "validation data": "book/optimisation",
}


def article(markup: str) -> str:
    return markup.split('<article class="bd-article">', 1)[-1].split("</article>", 1)[0]


def term_anchor(term: str) -> str:
    return "term-" + "-".join(term.split()).lower()


def test_mathematics_appendix_has_its_sections_pictures_and_checks(built_book):
    markup = article(page(built_book, "book/mathematics"))
    for label in ("mathematics", *MATH_SECTIONS):
        assert f'id="{label}"' in markup, f"the refresher has no section labelled ({label})="
    assert markup.count("<figure") == 2, "the tangent line and the circle stretched into an ellipse"
    code = html.unescape(re.sub(r"<[^>]+>", "", markup))  # highlighted code is split into spans
    for check in ("torch.linalg.eigh(", "matmul_by_loops(", ".backward()", "torch.testing.assert_close("):
        assert check in code, f"the refresher's visible code should use {check}"
    assert "{glue" not in markup


def test_chapters_link_the_refresher_where_the_ideas_are_first_used(built_book):
    for label, chapters in MATH_SECTIONS.items():
        for name in chapters:
            assert f'href="mathematics.html#{label}"' in article(page(built_book, name)), f"{name} should link {label}"
    glossary = page(built_book, "book/glossary")
    assert 'href="mathematics.html#math-eigenvalues"' in glossary


def test_intro_states_what_python_is_assumed_and_links_the_refresher(built_book):
    markup = article(page(built_book, "book/intro"))
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    assert "Python is introduced as we go" not in " ".join(text.split())
    assert "shown in full" not in text
    assert 'href="https://docs.python.org/3/tutorial/"' in markup
    assert 'href="mathematics.html#mathematics"' in markup
    assert "code/mlbook" in text


def test_glossary_defines_the_terms_readers_meet_early_and_chapters_link_them(built_book):
    glossary = page(built_book, "book/glossary")
    anchors = {anchor.lower() for anchor in re.findall(r'<dt id="(term-[^"]+)"', glossary)}
    for term, chapter in EARLY_TERMS.items():
        assert term_anchor(term) in anchors, f"the glossary has no entry {term!r}"
        links = {a.lower() for a in re.findall(r'href="glossary\.html#(term-[^"]+)"', page(built_book, chapter))}
        assert term_anchor(term) in links, f"{chapter} should link {term!r} to the glossary where it first appears"
    for alias, entry in (("converge", "convergence"), ("validation data", "validation set")):
        # an alias is a second <dt> of the same entry, as the glossary does for MSE
        block = re.search(rf'<dt id="{term_anchor(entry)}".*?</dd>', glossary, flags=re.S | re.I).group(0)
        assert f'id="{term_anchor(alias)}"' in block.lower(), f"{alias!r} should be an alias of {entry!r}"


def test_notation_page_uses_this_rounds_symbols_and_states_the_argument_order(built_book):
    markup = math_prerender.tex_source(article(page(built_book, "book/notation")))  # formulas as TeX
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    code = html.unescape(re.sub(r"<[^>]+>", "", markup))  # inline code is split into spans
    for symbol in (r"\(h\)", r"\(u_t\)", r"\(q_t\)", r"\(\hat u_t\)", r"\(\tau\)", r"\(c_j\)"):
        assert symbol in text, f"the notation page should list {symbol}"
    assert r"\(m_t\)" in text and "Kingma and Ba" in text, "Adam's averages: our names and the paper's"
    assert "mse(y_true, y_pred)" in code and "squared_error(y, y_hat)" in code
    assert "gaussian_nll(y, y_hat, sigma)" in code and "nn.MSELoss()(input, target)" in code
    doubles = markup.split("Letters with more than one meaning", 1)[1]
    first_cell = r'<tr[^>]*><td><p><span class="math notranslate nohighlight">\\\((.*?)\\\)</span>'
    listed = set(re.findall(first_cell, doubles))
    for letter in (r"\lambda", "k", "t", "v", "u", "c", "s", "d"):
        assert letter in listed, f"the double-meaning table should list {letter}: it lists {sorted(listed)}"
    assert any(r"\varepsilon" in cell for cell in listed), "the noise epsilon_i against Adam's epsilon"
    assert "m" not in listed, "after the renaming, m is only the number of examples"


def test_only_the_numbered_chapters_number_their_figures(built_book):
    """The introduction's and the appendix's figures show their captions without a number
    (book/_ext/figure_numbers.py); a chapter's figures are numbered after it (Fig. 2.1, ...)."""
    for name in ("book/intro", "book/mathematics"):
        markup = article(page(built_book, name))
        assert "<figure" in markup and "caption-number" not in markup, name
    tensors = article(page(built_book, "book/tensors"))
    numbers = re.findall(r'<span class="caption-number">Fig\. ([\d.]+) </span>', tensors)
    assert numbers and all(n.startswith("2.") for n in numbers), numbers
