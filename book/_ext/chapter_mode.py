"""Sphinx extension: build the book for a preview of one chapter (`make chapter CHAPTER=...`).

With MLBOOK_CHAPTER=book/<name>.md in the environment, only that chapter is executed; the
other chapters are excluded from execution (their pages render without outputs, and their
glued numbers are missing: warnings about them are expected and filtered out by
scripts/build_chapter.py). The execution cache is the book's own (`_build/.jupyter_cache`),
so the chapter's outputs also serve the next `make book`. Without the variable this does nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "MLBOOK_CHAPTER"


def _on_config_inited(app, config) -> None:
    chapter = os.environ.get(VARIABLE, "").strip()
    if not chapter:
        return
    root = Path(app.confdir).resolve()
    target = (root / chapter).resolve()
    if target.suffix != ".md" or not target.is_file():
        raise ValueError(f"{VARIABLE} should name a chapter's Markdown file such as book/tensors.md, got {chapter!r}")
    others = sorted(p.relative_to(root).as_posix() for p in (root / "book").glob("*.md") if p.resolve() != target)
    config.nb_execution_excludepatterns = list(config.nb_execution_excludepatterns or []) + others
    if not config.nb_execution_cache_path:
        config.nb_execution_cache_path = str(root / "_build" / ".jupyter_cache")


def setup(app):
    app.connect("config-inited", _on_config_inited, priority=100)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
