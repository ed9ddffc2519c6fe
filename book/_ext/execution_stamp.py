"""Sphinx extension: every executed page says when, and with what, it was executed.

`mlbook_deps` appends `STAMP_CELL` to every chapter with code. The cell runs last in the
chapter's own kernel and shows the date and time, the Python and PyTorch versions and the
device PyTorch put tensors on, as PyTorch reported them there. Its output is cached with the
chapter's other outputs, so a page read from the cache still shows when it really ran. At
write time this extension adds how long the chapter took to execute, which myst-nb records.
The stamp sits in a `measured-timing` block: the determinism test skips those.
"""

from __future__ import annotations

from pathlib import Path

#: The book's own static files (mlbook.css), served from the site's _static folder.
STATIC = Path(__file__).resolve().parents[1] / "_static"

STAMP_TAG = "mlbook-execution-stamp"
RUNTIME_SLOT = '<span class="execution-runtime"></span>'

#: The cell's text is part of the chapter's cache key: change it and every chapter runs again.
STAMP_CELL = f"""

```{{code-cell}} ipython3
:tags: [remove-input, {STAMP_TAG}]

# When, and with what, this page was executed (shown at its end).
import datetime as _dt
import platform as _platform
import sys as _sys

from IPython.display import HTML as _HTML


def _execution_stamp():
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d at %H:%M UTC")
    torch = _sys.modules.get("torch")
    if torch is None:
        tools = f"Python {{_platform.python_version()}} (this page does not use PyTorch)"
    else:
        device = torch.get_default_device()
        gpu = "a CUDA GPU was present" if torch.cuda.is_available() else "no CUDA GPU was present"
        tools = (f"Python {{_platform.python_version()}} and PyTorch {{torch.__version__}}, "
                 f"with tensors on the {{str(device).upper()}} by default ({{gpu}})")
    return _HTML(f'<div class="measured-timing execution-stamp"><p>This page was executed on {{when}} '
                 f'with {{tools}}{RUNTIME_SLOT}.</p></div>')


_execution_stamp()
```
"""


def _on_html_page_context(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if not body or RUNTIME_SLOT not in body:
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    data = NbMetadataCollector.get_exec_data(app.env, pagename) or {}
    runtime = data.get("runtime")
    text = f"; running its code took {runtime:.1f} s" if runtime else ""
    context["body"] = body.replace(RUNTIME_SLOT, text)


def _on_config_inited(app, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def _static_is_stale(outdir: Path) -> bool:
    """Whether a file in book/_static differs from (or is missing in) the site's _static."""
    for path in STATIC.rglob("*"):
        if path.is_file():
            copy = outdir / "_static" / path.relative_to(STATIC)
            if not copy.is_file() or copy.read_bytes() != path.read_bytes():
                return True
    return False


def _on_env_get_outdated(app, env, added, changed, removed) -> list[str]:
    """Rewrite every page when a file in book/_static changed.

    Sphinx copies static files only when it writes pages, and with no page out of date it
    writes none: an edit to mlbook.css alone never reached the site. Re-reading the pages
    executes nothing (their outputs come from the cache) and gives each page the new file's
    `?v=` checksum, so browsers fetch the new version.
    """
    if app.builder.format != "html" or not _static_is_stale(Path(app.outdir)):
        return []
    return sorted(env.found_docs - set(added) - set(changed) - set(removed))


def setup(app):
    app.connect("config-inited", _on_config_inited)
    app.connect("env-get-outdated", _on_env_get_outdated)
    app.connect("html-page-context", _on_html_page_context)
    app.add_css_file("mlbook.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
