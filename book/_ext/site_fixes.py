"""Sphinx extension: small fixes to what the default Jupyter Book theme sends to readers.

- sphinx-thebe adds its inline script twice on Sphinx 7.4; the second `const THEBE_JS_URL`
  throws a SyntaxError in every reader's console. Repeated <script> tags are dropped.
- The site's index.html is a bare one-line redirect (written by sphinx-external-toc) with no
  language, title or icon, so browsers also ask for /favicon.ico, which does not exist. It is
  replaced by a small valid page that redirects the same way and asks for nothing else.
- The 404 page (sphinx-notfound-page) gets the URL prefix GitHub Pages serves the site under,
  /<repository name>/, taken from `repository.url` in _config.yml, and a text that helps.
- Every written page is then touched up (`fix_page`, idempotent):
  * pydata-sphinx-theme loads `fontawesome.js` (1.4 MB) to turn icon tags into SVG, although its
    stylesheet already draws the same icons with the Font Awesome webfonts. The script is dropped.
  * The one brand icon (GitHub) would fetch a 115 KB brand webfont for one glyph: it becomes an
    inline SVG, its path taken at build time from the theme's own copy of Font Awesome.
  * Accessibility (axe-core): the search buttons say "Search Ctrl+K" but were named "Search"
    (label-content-name-mismatch): the shortcut is hidden from assistive technology and the
    name comes from the text, "Search" (or the title, where a narrow screen hides the text);
    myst-nb's show/hide toggles were all named "Toggle hidden content" and now take their name
    from what they say ("Show code cell source"); the primary sidebar (logo, search, chapter
    list) is not inside any landmark (region), so it becomes one.

Rewriting finished HTML depends on the theme's exact markup, so the rewrite is loud: when no page
of the site ends up with one of the fixes in `FIXED_MARKS` (the theme changed what it writes),
the build warns, and with warnings as errors it fails, rather than the fix silently lapsing.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

_BARE_REDIRECT = re.compile(r'^<meta http-equiv="Refresh" content="0; url=([^"]+)" />\s*$')


def _on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated <script> tags (identical file and attributes), keeping the first."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers (MathJax) append to this same list


def _on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    index = Path(app.outdir) / "index.html"
    if not index.is_file():
        return
    match = _BARE_REDIRECT.match(index.read_text(encoding="utf-8"))
    if not match:
        return
    target = html.escape(match.group(1))
    title = html.escape(app.config.html_title or app.config.project)
    # An empty inline icon: the page is left at once, so fetching a real one would only be
    # aborted half-way (and with no icon at all the browser asks for /favicon.ico).
    icon = '<link rel="icon" href="data:,">'
    index.write_text(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n{icon}\n"
        f'<meta http-equiv="Refresh" content="0; url={target}">\n'
        f'</head>\n<body>\n<main><p><a href="{target}">{title}</a></p></main>\n</body>\n</html>\n',
        encoding="utf-8",
    )


_FONTAWESOME_JS = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>\n?')
_SEARCH_LABEL = re.compile(r'(<button class="[^"]*search-button__button[^"]*" title="Search") aria-label="Search"')
_SEARCH_SHORTCUT = '<span class="search-button__kbd-shortcut">'
_SEARCH_SHORTCUT_HIDDEN = '<span class="search-button__kbd-shortcut" aria-hidden="true">'
_TOGGLE_LABEL = '<summary aria-label="Toggle hidden content">'
_SIDEBAR = '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar">'
_SIDEBAR_LANDMARK = (
    '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar" role="complementary" '
    'aria-label="Book navigation">'
)
_BRAND_ICON = re.compile(r'<i class="fab fa-github"></i>')
_GITHUB_GLYPH = re.compile(r'[{,]"?github"?:\[(\d+),(\d+),\[[^\]]*\],"\w+","([^"]+)"\]')


def github_svg(static: Path) -> str | None:
    """The GitHub mark as an inline SVG, from the theme's Font Awesome script (None if absent)."""
    script = static / "scripts" / "fontawesome.js"
    match = _GITHUB_GLYPH.search(script.read_text(encoding="utf-8")) if script.is_file() else None
    if match is None:
        return None
    width, height, path = match.groups()
    return (
        f'<svg class="mlbook-icon" viewBox="0 0 {width} {height}" width="1em" height="1em" aria-hidden="true" '
        f'focusable="false"><path fill="currentColor" d="{path}"/></svg>'
    )


def fix_page(text: str, github: str | None) -> str:
    """A written HTML page with the fixes described at the top of this module applied."""
    text = _FONTAWESOME_JS.sub("", text)
    text = text.replace(_SEARCH_SHORTCUT, _SEARCH_SHORTCUT_HIDDEN)
    text = _SEARCH_LABEL.sub(r"\1", text)
    text = text.replace(_TOGGLE_LABEL, "<summary>")
    text = text.replace(_SIDEBAR, _SIDEBAR_LANDMARK)
    if github:
        text = _BRAND_ICON.sub(github, text)
    return text


#: What a fixed page holds, for each fix that every page of the book needs.
FIXED_MARKS = {
    "the search shortcut hidden from assistive technology": _SEARCH_SHORTCUT_HIDDEN,
    "the primary sidebar as a landmark": _SIDEBAR_LANDMARK,
    "the GitHub icon as an inline SVG": '<svg class="mlbook-icon"',
}


def missing_fixes(pages: list[str]) -> list[str]:
    """The fixes of FIXED_MARKS that no page shows (each a sign that the theme's markup changed)."""
    return [fix for fix, mark in FIXED_MARKS.items() if not any(mark in page for page in pages)]


def _fix_pages(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    github = github_svg(outdir / "_static")
    fixed_pages = []
    for page in outdir.rglob("*.html"):
        if "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        fixed = fix_page(text, github)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
        fixed_pages.append(fixed)
    for fix in missing_fixes(fixed_pages):
        logger.warning(f"site_fixes: no page got {fix}: the theme's markup has changed; update book/_ext/site_fixes.py")


def _on_config_inited(app, config) -> None:
    """Point the 404 page's links at the site as GitHub Pages publishes it: /<repository>/."""
    if "notfound_urls_prefix" not in config.values:
        return
    url = (config.html_theme_options or {}).get("repository_url", "")
    name = url.rstrip("/").split("/")[-1].removesuffix(".git")
    if not name:
        raise ValueError("repository.url in _config.yml is needed to place the 404 page")
    prefix = f"/{name}/"
    config.notfound_urls_prefix = prefix
    home, search = f"{prefix}{config.root_doc}.html", f"{prefix}search.html"
    config.notfound_context = {
        "title": "Page not found",
        "body": (
            "<h1>Page not found</h1>\n"
            "<p>There is no page at this address in <em>Machine Learning with PyTorch</em>. It may have "
            "moved when the chapters were reorganised, or the link may have a typing mistake.</p>\n"
            f'<p>Start again from <a href="{home}">the first page</a>, or '
            f'<a href="{search}">search the book</a>. If a link on one of our pages brought you here, '
            "please tell us with the issue button at the top of that page.</p>"
        ),
    }


def setup(app):
    app.connect("config-inited", _on_config_inited, priority=400)
    # Early (priority < 500): the event stops at the first handler that returns a template name.
    app.connect("html-page-context", _on_html_page_context, priority=100)
    # Late (priority > 500): after sphinx-external-toc has written its redirect.
    app.connect("build-finished", _on_build_finished, priority=900)
    app.connect("build-finished", _fix_pages, priority=950)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
