"""Sphinx extension: small fixes to what the default Jupyter Book theme sends to readers.

- sphinx-thebe adds its inline script twice on Sphinx 7.4; the second `const THEBE_JS_URL`
  throws a SyntaxError in every reader's console. Repeated <script> tags are dropped.
- The site's index.html is a bare one-line redirect (written by sphinx-external-toc) with no
  language, title or icon, so browsers also ask for /favicon.ico, which does not exist. It is
  replaced by a small valid page that redirects the same way and asks for nothing else.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

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
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n{icon}\n"
        f'<meta http-equiv="Refresh" content="0; url={target}">\n'
        f'</head>\n<body>\n<main><p><a href="{target}">{title}</a></p></main>\n</body>\n</html>\n',
        encoding="utf-8",
    )


def setup(app):
    # Early (priority < 500): the event stops at the first handler that returns a template name.
    app.connect("html-page-context", _on_html_page_context, priority=100)
    # Late (priority > 500): after sphinx-external-toc has written its redirect.
    app.connect("build-finished", _on_build_finished, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
