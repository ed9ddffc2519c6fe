"""Sphinx extension: serve the book's own static files (book/_static), and re-write the pages when
one of them changes.

Sphinx copies static files only when it writes pages, and with no page out of date it writes
none, so an edit to mlbook.css alone never reached the site. When a file in book/_static differs
from (or is missing in) the site's _static folder, every page is marked out of date: re-reading
executes nothing (the outputs come from the execution cache) and gives each page the new file's
`?v=` checksum, so browsers fetch the new version.
"""

from __future__ import annotations

from pathlib import Path

#: The book's own static files, served from the site's _static folder.
STATIC = Path(__file__).resolve().parents[1] / "_static"
STYLESHEET = "mlbook.css"


def static_is_stale(outdir: Path) -> bool:
    """Whether a file in book/_static differs from (or is missing in) the site's _static."""
    for path in STATIC.rglob("*"):
        if path.is_file():
            copy = outdir / "_static" / path.relative_to(STATIC)
            if not copy.is_file() or copy.read_bytes() != path.read_bytes():
                return True
    return False


def _on_config_inited(app, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def _on_env_get_outdated(app, env, added, changed, removed) -> list[str]:
    if app.builder.format != "html" or not static_is_stale(Path(app.outdir)):
        return []
    return sorted(env.found_docs - set(added) - set(changed) - set(removed))


def setup(app):
    app.connect("config-inited", _on_config_inited)
    app.connect("env-get-outdated", _on_env_get_outdated)
    app.add_css_file(STYLESHEET)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
