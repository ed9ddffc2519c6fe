"""Sphinx extension: number figures only on the numbered chapters' pages.

Sphinx numbers every figure with a caption. Pages outside a numbered part of the table of
contents (the introduction, the Reference appendices) have no chapter number and share one
counter, so the mathematics appendix's figures read "Fig. 2" and "Fig. 3", continuing from
the introduction's "Fig. 1", while chapter figures read "Fig. 3.1". This drops the numbers of
the figures on pages without a chapter number: they show their caption alone. (A `{numref}`
to such a figure would fail the build with a warning, so none can refer to a lost number.)
"""

from __future__ import annotations


def unnumbered_pages(toc_fignumbers: dict, toc_secnumbers: dict) -> list[str]:
    """The pages with numbered figures but no section number of their own."""
    return [page for page in toc_fignumbers if not toc_secnumbers.get(page)]


def _drop_numbers(app, env) -> list[str]:
    for page in unnumbered_pages(env.toc_fignumbers, env.toc_secnumbers):
        del env.toc_fignumbers[page]
    return []


def setup(app):
    # After Sphinx's own toctree collector (priority 500) has numbered the figures.
    app.connect("env-get-updated", _drop_numbers, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
