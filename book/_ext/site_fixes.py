"""Sphinx extension: small fixes to what the default Jupyter Book theme sends to readers.

- sphinx-thebe adds its inline script twice on Sphinx 7.4; the second `const THEBE_JS_URL`
  throws a SyntaxError in every reader's console. Repeated <script> tags are dropped.
- The site's index.html is a bare one-line redirect (written by sphinx-external-toc) to the root
  page, book/intro.html: on a phone the extra navigation cost about 0.6 s before anything showed.
  It is replaced by a copy of the root page itself (`root_copy`), each relative address
  (href, src, action, the content root) rewritten for the site's top folder, so the home page
  loads at once and every link on it leads where the same link on book/intro.html does; it is
  rewritten on every build. (Where the root page is missing, a small valid redirect page, with a
  language, a title and an icon, is written instead.)
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
  * Speed (issue 12, Lighthouse on a phone): the theme puts Sphinx's search scripts and the
    search index on every page for search-as-you-type, which is off here (the Ctrl+K field just
    submits to search.html): they are dropped from every page but search.html. The other
    external scripts are deferred (MathJax is left as its extension writes it), and the one
    they all read first, documentation_options.js, is written into the page instead.
    Figures (_images/) load lazily and decode off the main thread; the logo does not.
  * Assets a page does not use are dropped from it (`UNUSED_ASSETS`): sphinx-design's stylesheet
    and tab script where the page has no sphinx-design component (no `sd-` class), and
    sphinx-thebe's stylesheet, script and two configuration scripts where it has no Thebe launch button
    (launch_buttons.thebe is off). They were two of eleven render-blocking stylesheets and two
    scripts on every page.
- The theme's stylesheet (`slim_icon_css`) carries all of Font Awesome: about 1,800
  `.fa-<name>:before{content:...}` rules, most of the 64 KB it costs gzipped, and an icon font
  of 150 KB that blocks text (font-display:block). Only the icons of `ICONS` keep their rules,
  and the solid font is cut down (fontTools) to the glyphs the remaining CSS can draw (those
  rules, plus the theme's admonition, toctree and link icons), written as WOFF (WOFF2 needs
  brotli) and named in the @font-face rule. A page that uses an icon outside `ICONS` makes the
  build warn.

Rewriting finished HTML depends on the theme's exact markup, so the rewrite is loud: when no page
of the site ends up with one of the fixes in `FIXED_MARKS` (the theme changed what it writes),
the build warns, and with warnings as errors it fails, rather than the fix silently lapsing.
"""

from __future__ import annotations

import html
import posixpath
import re
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

_BARE_REDIRECT = re.compile(r'^<meta http-equiv="Refresh" content="0; url=([^"]+)" />\s*$')
_ANY_REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"')


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


#: Marks the home page made by `root_copy`, so that a later build rewrites it.
ROOT_COPY_MARK = '<meta name="mlbook-root-copy" content="{source}">'
_RELATIVE_URL = re.compile(r'\b(href|src|action|data-content_root)="(?![a-zA-Z][\w+.-]*:|/|#)([^"]*)"')


def root_copy(text: str, source: str) -> str:
    """The page at `source` (a path in the site such as book/intro.html), as index.html at the
    site's top: its relative addresses rewritten to lead to the same files from there."""
    folder = posixpath.dirname(source)

    def rewrite(match: re.Match) -> str:
        attribute, url = match.groups()
        path, rest = re.match(r"([^?#]*)(.*)", url, re.S).groups()
        if not path:  # "" or "?...": the page itself
            return f'{attribute}="{source}{rest}"'
        moved = posixpath.normpath(posixpath.join(folder, path))
        if moved == ".":
            moved = "./"
        elif path.endswith("/"):
            moved += "/"
        return f'{attribute}="{moved}{rest}"'

    text = _RELATIVE_URL.sub(rewrite, text)
    mark = ROOT_COPY_MARK.format(source=html.escape(source))
    return text.replace("</head>", f"  {mark}\n  </head>", 1)


def _on_build_finished(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    index = outdir / "index.html"
    if not index.is_file():
        return
    current = index.read_text(encoding="utf-8")
    # sphinx-external-toc's redirect, or the redirect page of an older build of this extension
    match = _BARE_REDIRECT.match(current) or (len(current) < 2000 and _ANY_REDIRECT.search(current))
    if not match and 'name="mlbook-root-copy"' not in current:
        return  # the book's own index page
    source = match.group(1) if match else re.search(r'name="mlbook-root-copy" content="([^"]+)"', current).group(1)
    source = html.unescape(source)
    root = outdir / source
    if root.is_file() and ":" not in source and not source.startswith("/"):
        index.write_text(root_copy(root.read_text(encoding="utf-8"), source), encoding="utf-8")
        return
    target = html.escape(source)
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


#: The search scripts the theme adds to every page (pydata-sphinx-theme's layout.html, extrahead).
_SEARCH_SCRIPTS = re.compile(
    r'[ \t]*<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js|searchindex\.js)"></script>\n?'
)
_SEARCH_SCRIPT_URLS = ("searchtools.js", "language_data.js", "searchindex.js")
_SCRIPT_TAG = re.compile(r'<script\b([^>]*)\bsrc="([^"]+)"([^>]*)></script>')
_DOCUMENTATION_OPTIONS = "documentation_options.js"
_INLINE_OPTIONS = '<script data-mlbook="documentation_options">'
_IMAGE = re.compile(r'<img (?![^>]*\bloading=)([^>]*\bsrc="[^"]*_images/[^"]*"[^>]*)>')
_LAZY = 'loading="lazy" decoding="async"'


def _defer(match: re.Match, options: str | None) -> str:
    before, src, after = match.groups()
    attributes = before + after
    if _DOCUMENTATION_OPTIONS in src:
        # The inline scripts after it set DOCUMENTATION_OPTIONS.pagename and the like at once.
        return f"{_INLINE_OPTIONS}\n{options.strip()}\n</script>" if options else match.group(0)
    if "mathjax" in src.lower() or re.search(r"\b(?:defer|async)\b", attributes):
        return match.group(0)
    return f'<script defer{before}src="{src}"{after}></script>'


#: Assets (a regular expression matching their tags) and what a page must contain to keep them.
UNUSED_ASSETS = {
    "sphinx-design": (
        re.compile(
            r'[ \t]*(?:<link rel="stylesheet"[^>]*href="[^"]*_static/sphinx-design[^"]*"[^>]*>'
            r'|<script\b[^>]*src="[^"]*_static/design-tabs\.js[^"]*"></script>)\n?'
        ),
        re.compile(r'class="(?:[^"]*\s)?sd-'),
    ),
    "sphinx-thebe": (
        re.compile(
            r'[ \t]*(?:<link rel="stylesheet"[^>]*href="[^"]*_static/sphinx-thebe[^"]*"[^>]*>'
            r'|<script\b[^>]*src="[^"]*_static/sphinx-thebe\.js[^"]*"></script>'
            r"|<script>\s*const THEBE_JS_URL\b.*?</script>"
            r'|<script type="text/x-thebe-config">.*?</script>)\n?',
            re.S,
        ),
        re.compile(r'class="(?:[^"]*\s)?thebe-'),
    ),
}


def drop_unused_assets(text: str) -> str:
    """The page without the stylesheets and scripts of UNUSED_ASSETS that it has no use for."""
    for tags, used in UNUSED_ASSETS.values():
        if not used.search(text):
            text = tags.sub("", text)
    return text


def fix_page(text: str, github: str | None, options: str | None = None, search_page: bool = False) -> str:
    """A written HTML page with the fixes described at the top of this module applied.

    `options` is the text of _static/documentation_options.js; `search_page` says whether this
    is search.html (which keeps the search scripts)."""
    text = _FONTAWESOME_JS.sub("", text)
    text = drop_unused_assets(text)
    if not search_page:
        text = _SEARCH_SCRIPTS.sub("", text)
    text = _SCRIPT_TAG.sub(lambda match: _defer(match, options), text)
    text = _IMAGE.sub(rf"<img {_LAZY} \1>", text)
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
    "documentation_options.js written into the page": _INLINE_OPTIONS,
    "figures that load lazily": f"<img {_LAZY} ",
}
#: Fixes expected only where the site has what they fix (a book without figures has none to make lazy).
NEEDS = {"figures that load lazily": "_images/"}


def leftover_scripts(name: str, page: str) -> list[str]:
    """Scripts a fixed page still loads that it should not: the search scripts outside
    search.html, and external scripts (not MathJax's) that block rendering."""
    found = []
    for before, src, after in _SCRIPT_TAG.findall(page):
        if name != "search.html" and src.split("?")[0].endswith(_SEARCH_SCRIPT_URLS):
            found.append(f"{src} (search scripts belong on search.html only)")
        elif "mathjax" not in src.lower() and not re.search(r"\b(?:defer|async)\b", before + after):
            found.append(f"{src} (blocks rendering)")
    return found


def missing_fixes(pages: list[str], names: list[str] | None = None) -> list[str]:
    """The fixes of FIXED_MARKS that no page shows (each a sign that the theme's markup changed),
    and each page (named in `names`) that still loads a script it should not."""
    missing = [
        fix
        for fix, mark in FIXED_MARKS.items()
        if not any(mark in page for page in pages) and any(NEEDS.get(fix, "") in page for page in pages)
    ]
    for name, page in zip(names or [], pages, strict=False):
        missing += [f"{name}: {script}" for script in leftover_scripts(name, page)]
    return missing


def _fix_pages(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    github = github_svg(outdir / "_static")
    options_file = outdir / "_static" / _DOCUMENTATION_OPTIONS
    options = options_file.read_text(encoding="utf-8") if options_file.is_file() else None
    fixed_pages, names = [], []
    for page in outdir.rglob("*.html"):
        if "_static" in page.parts:
            continue
        name = page.relative_to(outdir).as_posix()
        text = page.read_text(encoding="utf-8")
        fixed = fix_page(text, github, options, search_page=name == "search.html")
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
        fixed_pages.append(fixed)
        names.append(name)
    for fix in missing_fixes(fixed_pages, names):
        logger.warning(f"site_fixes: no page got {fix}: the theme's markup has changed; update book/_ext/site_fixes.py")
    for problem in slim_icon_css(outdir / "_static", fixed_pages):
        logger.warning(f"site_fixes: {problem}; update ICONS in book/_ext/site_fixes.py")


#: The Font Awesome icons the site shows (in the pages' markup, or added by the theme's
#: scripts: the theme button's sun, moon and circle-half-stroke). Every other icon's CSS rule
#: is dropped and its glyph cut from the font; the build warns when a page uses another one.
ICONS = frozenset(
    "magnifying-glass bars list rocket sun moon lightbulb expand circle-half-stroke arrow-up "
    "pencil-alt file-pdf file download outdent angle-left angle-right file-code code".split()
)
THEME_CSS = Path("styles") / "pydata-sphinx-theme.css"
SOLID_FONT = Path("vendor") / "fontawesome" / "webfonts" / "fa-solid-900.ttf"
#: The cut-down solid font the stylesheet names instead of fa-solid-900.woff2.
SUBSET_FONT = SOLID_FONT.with_name("fa-solid-900.subset.woff")
_RULE = re.compile(r'((?:\.fa-[\w-]+:(?:before|after),?)+)\{content:"\\([0-9a-f]+)"\}')
_SOLID_FACE = re.compile(r"(@font-face\{[^}]*font-weight:900;src:)[^}]*\}")
_ESCAPED = re.compile(r"\\([0-9a-fA-F]{4,6})")
_CLASSES = re.compile(r'class="([^"]*)"')


def _icon_names(selectors: str) -> set[str]:
    return set(re.findall(r"\.fa-([\w-]+):", selectors))


def font_codepoints(css: str) -> set[int]:
    """The Font Awesome code points (Unicode private use area) a stylesheet can draw: as CSS
    escapes (content:"\\f002") or as the characters themselves (--pst-icon-bell:"...")."""
    found = {int(code, 16) for code in _ESCAPED.findall(css)}
    found |= {ord(char) for char in css}
    return {code for code in found if 0xE000 <= code <= 0xF8FF}


def _theme_css() -> Path:
    import pydata_sphinx_theme

    return Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / THEME_CSS


def slim_icon_css(static: Path, pages: list[str]) -> list[str]:
    """Drop the icon rules outside ICONS and cut the solid font down (idempotent); the problems."""
    css_file = static / THEME_CSS
    if not css_file.is_file():
        return [f"{THEME_CSS} is missing"]
    css = css_file.read_text(encoding="utf-8")
    every_icon = set()  # from the theme's own copy: this build's may already be cut down
    for match in _RULE.finditer(_theme_css().read_text(encoding="utf-8")):
        every_icon |= _icon_names(match.group(1))
    problems = [f"the theme's Font Awesome has no icon {name!r}" for name in sorted(ICONS - every_icon)]
    used = set()
    for page in pages:
        for classes in _CLASSES.findall(page):
            used |= {word[3:] for word in classes.split() if word.startswith("fa-")}
    problems += [
        f"a page uses the icon fa-{name}, whose rule is dropped" for name in sorted((used & every_icon) - ICONS)
    ]
    slim = _RULE.sub(lambda m: m.group(0) if _icon_names(m.group(1)) & ICONS else "", css)
    if SOLID_FONT.name in slim or SUBSET_FONT.name in slim:
        font = static / SOLID_FONT
        if not (static / SUBSET_FONT).is_file() or SOLID_FONT.name in slim:
            if not font.is_file():
                return [*problems, f"{SOLID_FONT} is missing"]
            codepoints = set()
            for other in static.rglob("*.css"):  # the stylesheets the pages link (no vendor copies)
                if "vendor" in other.parts or "mathjax" in other.parts:
                    continue
                codepoints |= font_codepoints(slim if other == css_file else other.read_text(encoding="utf-8"))
            subset_font(font, static / SUBSET_FONT, codepoints)
        slim = _SOLID_FACE.sub(rf'\1url(../{SUBSET_FONT.as_posix()}) format("woff")}}', slim, count=1)
    if SUBSET_FONT.name not in slim:
        problems.append("the solid icon font's @font-face rule was not found")
    if slim != css:
        css_file.write_text(slim, encoding="utf-8")
    return problems


def subset_font(source: Path, target: Path, codepoints: set[int]) -> None:
    """Write `source` cut down to the glyphs of `codepoints`, as WOFF."""
    import logging as stdlib_logging

    from fontTools import subset

    stdlib_logging.getLogger("fontTools").setLevel(stdlib_logging.WARNING)  # its INFO lines are noise
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codepoints))
    subsetter.subset(font)
    subset.save_font(font, str(target), options)


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
