"""Sphinx extension: every executed page says when, and with what, it was executed.

It appends `STAMP_CELL` to every chapter with code (after `mlbook_deps`'s cell). The cell runs
last in the chapter's own kernel and shows the date and time, the Python and PyTorch versions and the
device PyTorch put tensors on, as PyTorch reported them there. Its output is cached with the
chapter's other outputs, so a page read from the cache still shows when it really ran. At
write time this extension adds how long the chapter took to execute, which myst-nb records.
The stamp sits in a `measured-timing` block: the determinism test skips those.
"""

from __future__ import annotations

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


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if "{code-cell}" in source[0]:
        source[0] = source[0].rstrip("\n") + STAMP_CELL


def setup(app):
    # After mlbook_deps (priority 500): the stamp is the chapter's last cell, so it runs last.
    app.connect("source-read", _on_source_read, priority=600)
    app.connect("html-page-context", _on_html_page_context)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
