"""Sphinx extension: typeset the book's mathematics when the site is built, not in the reader's browser.

Sphinx writes each formula as TeX for MathJax to typeset in the browser: inline math as
`<span class="math notranslate nohighlight">\\(...\\)</span>`, display math as
`<div class="math notranslate nohighlight">\\[...\\]</div>` (an equation number, when there is one,
sits in a `<span class="eqno">` before the TeX; amsmath environments come without `\\[ \\]`). MathJax
(258 KB of script plus fonts) then held up the first paint of every page with math by about a second
on a phone. Here, once the HTML is written (build-finished), every formula of every page is sent in
one call to Node (book/_ext/typeset_math.js, MathJax 3 from the `mathjax-full` npm package pinned in
package.json), which returns the same `<mjx-container>` MathJax makes in the browser, as SVG drawn in
`currentColor` (so it follows the light and dark themes) with the MathML beside it for screen
readers. Each formula's TeX is replaced in place (string replacement, the page is not re-serialised);
each page gets MathJax's SVG style sheet and its own hidden `<svg>` of the glyphs its formulas use;
MathJax's script and its configuration are dropped from the page, and MathJax's copy in the site's
_static folder (from an earlier build) is removed, since nothing loads it any more.

The build is loud: a formula MathJax cannot typeset (a TeX error or an undefined macro, which the
browser drew in red) is a warning naming the page and the formula, and with warnings as errors the
build fails. Without Node, or without `npm ci` having installed mathjax-full, the build stops with a
message that says what to install. Pages already typeset (an incremental build that did not rewrite
them) have no TeX left and are skipped, so the step is idempotent.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("typeset_math.js")
INSTALL = (
    "the book's mathematics is typeset at build time with Node.js and the mathjax-full npm package: "
    "install Node.js 18 or later (https://nodejs.org; Debian: apt-get install nodejs npm), then run "
    "`npm ci` in the repository (`make book` does)"
)

_INLINE = re.compile(r'(<span class="math notranslate nohighlight">)\\\((.*?)\\\)(</span>)', re.S)
#: A display formula: the opening tag, an equation number (if any), the TeX, the closing tag.
_DISPLAY = re.compile(
    r'(<div class="math notranslate nohighlight"[^>]*>)(\s*<span class="eqno">.*?</span>)?(.*?)(</div>)', re.S
)
_MATHJAX_SCRIPT = re.compile(r'[ \t]*<script\b[^>]*\bsrc="[^"]*mathjax[^"]*"[^>]*>\s*</script>\n?', re.I)
_MATHJAX_CONFIG = re.compile(r"[ \t]*<script>\s*window\.MathJax\s*=.*?</script>\n?", re.S)
_BODY = re.compile(r"<body\b[^>]*>")
_MATHML = '<math xmlns="http://www.w3.org/1998/Math/MathML"'
_CONTAINER = re.compile(r"<mjx-container\b([^>]*)>.*?</mjx-container>", re.S)
_ALTTEXT = re.compile(r'<math [^>]*\balttext="([^"]*)"')
STYLE_ID = "MJX-SVG-styles"


@dataclass(frozen=True)
class Formula:
    """One formula of a page: where its TeX sits in the page's text and what it says."""

    start: int
    end: int
    tex: str
    display: bool


def find_formulas(text: str) -> list[Formula]:
    """The formulas of an HTML page that are still TeX, in the order they appear."""
    found = []
    for match in _INLINE.finditer(text):
        found.append(Formula(match.start(2) - 2, match.end(2) + 2, html.unescape(match.group(2)).strip(), False))
    for match in _DISPLAY.finditer(text):
        tex = match.group(3)
        if "<mjx-container" in tex or not tex.strip():
            continue
        source = html.unescape(tex).strip()
        if source.startswith("\\[") and source.endswith("\\]"):
            source = source[2:-2].strip()
        found.append(Formula(match.start(3), match.end(3), source, True))
    return sorted(found, key=lambda formula: formula.start)


def with_alttext(markup: str, tex: str) -> str:
    """A rendering whose MathML keeps the formula's TeX as its `alttext` (for tests and text tools)."""
    return markup.replace(_MATHML, f'{_MATHML} alttext="{html.escape(tex)}"', 1)


def tex_source(text: str) -> str:
    """Markup with each typeset formula turned back into its TeX, `\\(...\\)` or `\\[...\\]`, from its
    `alttext`: what Sphinx wrote before this extension ran, for tests that read the formulas."""

    def source(match: re.Match) -> str:
        alttext = _ALTTEXT.search(match.group(0))
        if alttext is None:
            return match.group(0)
        tex = alttext.group(1)  # left HTML-escaped, as Sphinx writes TeX
        return f"\\[{tex}\\]" if 'display="true"' in match.group(1) else f"\\({tex}\\)"

    return _CONTAINER.sub(source, text)


def strip_mathjax(text: str) -> str:
    """The page without MathJax's script tag and its `window.MathJax = ...` configuration."""
    return _MATHJAX_CONFIG.sub("", _MATHJAX_SCRIPT.sub("", text))


def replace_formulas(text: str, formulas: list[Formula], rendered: list[str], css: str, cache: str) -> str:
    """The page with each formula's TeX replaced by its rendering, MathJax's styles and glyphs added."""
    if len(formulas) != len(rendered):
        raise ValueError(f"expected {len(formulas)} renderings, got {len(rendered)}")
    parts, position = [], 0
    for formula, markup in zip(formulas, rendered, strict=True):
        if 'display="true"' in markup.split(">", 1)[0] and "tabindex=" not in markup.split(">", 1)[0]:
            # A wide display equation scrolls sideways on a phone: a scrollable region must be
            # reachable by keyboard (axe's scrollable-region-focusable), as MathJax's own was.
            markup = markup.replace("<mjx-container", '<mjx-container tabindex="0"', 1)
        parts += [text[position : formula.start], markup]
        position = formula.end
    parts.append(text[position:])
    text = strip_mathjax("".join(parts))
    if formulas and f'id="{STYLE_ID}"' not in text:
        text = text.replace("</head>", f'<style id="{STYLE_ID}">{css}</style>\n</head>', 1)
    if formulas:
        body = _BODY.search(text)
        if body is None:
            raise ValueError("the page has no <body> for MathJax's glyphs")
        text = text[: body.end()] + cache + text[body.end() :]
    return text


def typeset(pages: list[list[Formula]], macros: dict | None = None, cwd: Path | None = None) -> dict:
    """Run book/_ext/typeset_math.js once on every page's formulas (see that file for the format)."""
    node = shutil.which("node")
    if node is None:
        raise ExtensionError(f"math_prerender: Node.js (`node`) was not found: {INSTALL}")
    request = {
        "macros": macros or {},
        "pages": [[{"tex": f.tex, "display": f.display} for f in formulas] for formulas in pages],
    }
    # Node finds mathjax-full in the node_modules folder above the script (the repository's).
    result = subprocess.run([node, str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        if "Cannot find module 'mathjax-full" in result.stderr:
            raise ExtensionError(f"math_prerender: the mathjax-full npm package is not installed: {INSTALL}")
        raise ExtensionError(f"math_prerender: {SCRIPT.name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def _macros(app) -> dict:
    config = getattr(app.config, "mathjax3_config", None) or {}
    return (config.get("tex") or {}).get("macros") or {}


def _on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    pages, texts, formulas = [], [], []
    for page in sorted(outdir.rglob("*.html")):
        if "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        found = find_formulas(text)
        if found:
            pages.append(page)
            texts.append(text)
            formulas.append(found)
        elif strip_mathjax(text) != text:
            page.write_text(strip_mathjax(text), encoding="utf-8")
    stale = outdir / "_static" / "mathjax"
    if stale.is_dir():
        shutil.rmtree(stale)
    if not pages:
        return
    result = typeset(formulas, _macros(app), Path(app.srcdir))
    count = 0
    for page, text, found, output in zip(pages, texts, formulas, result["pages"], strict=True):
        name = page.relative_to(outdir).as_posix()
        for formula, item in zip(found, output["math"], strict=True):
            if item["error"]:
                logger.warning(f"math_prerender: {name}: MathJax cannot typeset {formula.tex!r}: {item['error']}")
        rendered = [
            with_alttext(item["html"], formula.tex) for formula, item in zip(found, output["math"], strict=True)
        ]
        page.write_text(replace_formulas(text, found, rendered, result["css"], output["cache"]), encoding="utf-8")
        count += len(found)
    logger.info(f"math_prerender: typeset {count} formulas on {len(pages)} pages")


def setup(app):
    # After sphinx-external-toc's redirect and notebooks (priority 500); before site_fixes (900, 950),
    # whose rewrites do not touch the math.
    app.connect("build-finished", _on_build_finished, priority=800)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
