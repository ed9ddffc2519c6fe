"""The mathematics is typeset when the site is built (book/_ext/math_prerender.py and typeset_math.js):
finding and replacing formulas in a page, MathJax's errors reported, and the built site itself."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from sphinx.errors import ExtensionError

import math_prerender
from conftest import toc_files

PAGE = (
    "<html><head>\n"
    '<script>window.MathJax = {"options": {"processHtmlClass": "math"}}</script>\n'
    '<script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>\n'
    '</head><body class="page">\n'
    '<p>If <span class="math notranslate nohighlight">\\(a &lt; b\\)</span> then '
    '<span class="math notranslate nohighlight">\\(x^2\\)</span>.</p>\n'
    '<div class="math notranslate nohighlight">\n\\[\nL(\\theta) = \\tfrac{1}{2}\\theta^2\n\\]</div>\n'
    '<div class="math notranslate nohighlight" id="equation-e"><span class="eqno">(1)<a class="headerlink" '
    'href="#equation-e">#</a></span>\\begin{align}a &amp;= b\\end{align}</div>\n'
    "<pre>not math: \\(x\\)</pre>\n"
    "</body></html>\n"
)

needs_node = pytest.mark.skipif(
    shutil.which("node") is None and not os.environ.get("CI"), reason="Node.js is not installed"
)


def test_finds_inline_display_and_numbered_formulas_with_entities_decoded():
    found = math_prerender.find_formulas(PAGE)
    assert [(f.tex, f.display) for f in found] == [
        ("a < b", False),
        ("x^2", False),
        ("L(\\theta) = \\tfrac{1}{2}\\theta^2", True),
        ("\\begin{align}a &= b\\end{align}", True),
    ]
    assert [PAGE[f.start : f.end] for f in found][:2] == ["\\(a &lt; b\\)", "\\(x^2\\)"]


def test_replaces_each_formula_in_place_and_drops_mathjax():
    found = math_prerender.find_formulas(PAGE)
    rendered = [f"<mjx-container>{i}</mjx-container>" for i in range(len(found))]
    page = math_prerender.replace_formulas(PAGE, found, rendered, "svg{}", '<svg id="cache"></svg>')
    assert "mathjax" not in page.lower().replace("mjx", "")
    assert '<span class="math notranslate nohighlight"><mjx-container>0</mjx-container></span>' in page
    assert '<div class="math notranslate nohighlight"><mjx-container>2</mjx-container></div>' in page
    # The equation number and its link stay; text outside math (here in <pre>) is not touched.
    assert '<span class="eqno">(1)<a class="headerlink" href="#equation-e">#</a></span><mjx-container>3' in page
    assert "<pre>not math: \\(x\\)</pre>" in page
    assert page.count('<style id="MJX-SVG-styles">svg{}</style>\n</head>') == 1
    assert '<body class="page"><svg id="cache"></svg>' in page
    assert math_prerender.find_formulas(page) == []  # a second pass finds nothing to do
    with pytest.raises(ValueError, match="expected 4 renderings"):
        math_prerender.replace_formulas(PAGE, found, rendered[:1], "", "")


@needs_node
def test_node_typesets_svg_with_mathml_and_reports_errors():
    formulas = math_prerender.find_formulas(PAGE)
    broken = [math_prerender.Formula(0, 0, "\\frac{a", True), math_prerender.Formula(0, 0, "\\nosuchmacro", False)]
    result = math_prerender.typeset([formulas, broken])
    first, second = result["pages"]
    assert all(item["error"] is None for item in first["math"])
    for item in first["math"]:
        assert item["html"].startswith('<mjx-container class="MathJax" jax="SVG"')
        assert 'fill="currentColor"' in item["html"] and "<mjx-assistive-mml" in item["html"]
    assert 'display="true"' in first["math"][2]["html"] and 'display="true"' not in first["math"][0]["html"]
    assert "<mo>&lt;</mo>" in first["math"][0]["html"]  # the decoded "<" reached MathJax
    typeset = math_prerender.with_alttext(first["math"][0]["html"], "a < b")
    assert 'alttext="a &lt; b"' in typeset
    assert math_prerender.tex_source(f"<p>{typeset}</p>") == "<p>\\(a &lt; b\\)</p>"
    assert first["cache"].startswith('<svg style="display: none;" id="MJX-SVG-global-cache"><defs><path')
    assert [item["error"] for item in second["math"]] == [
        "Missing close brace",
        "Undefined control sequence \\nosuchmacro",
    ]
    assert 'mjx-container[jax="SVG"][display="true"]' in result["css"]


def test_missing_node_fails_with_what_to_install(monkeypatch):
    monkeypatch.setattr(math_prerender.shutil, "which", lambda name: None)
    with pytest.raises(ExtensionError, match=r"Node.js \(`node`\) was not found.*`npm ci`"):
        math_prerender.typeset([math_prerender.find_formulas(PAGE)])


@pytest.mark.book
def test_every_formula_is_typeset_and_no_page_loads_mathjax(built_book):
    assert not (built_book.html / "_static" / "mathjax").exists()
    typeset = 0
    for name in [*toc_files(), "genindex", "search"]:
        markup = (built_book.html / f"{name}.html").read_text(encoding="utf-8")
        scripts = re.findall(r'<script[^>]*src="([^"]+)"', markup)
        assert not [s for s in scripts if "mathjax" in s.lower()], f"{name} loads MathJax"
        assert "window.MathJax" not in markup, name
        article = markup.split('<article class="bd-article">', 1)[-1].split("</article>", 1)[0]
        formulas = re.findall(r'<(span|div) class="math notranslate nohighlight"[^>]*>(.*?)</\1>', article, flags=re.S)
        for _, inner in formulas:
            assert "<mjx-container" in inner and "<svg" in inner and "<mjx-assistive-mml" in inner, (name, inner[:200])
            assert "<math " in inner and "merror" not in inner, (name, inner[:200])
        if formulas:
            assert 'id="MJX-SVG-global-cache"' in markup and 'id="MJX-SVG-styles"' in markup, name
        text = re.sub(r"<(pre|script|style|svg|mjx-assistive-mml)\b.*?</\1>", "", article, flags=re.S)
        assert "\\(" not in text and "\\[" not in text, f"{name} has TeX left untypeset"
        typeset += len(formulas)
    assert typeset > 1000
