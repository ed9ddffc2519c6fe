"""Sphinx extension: execute the chapters that need it, in parallel, before Sphinx reads them.

myst-nb executes notebooks one at a time while Sphinx reads each page, so a cold build of the
whole book takes the sum of all chapter times. Before reading starts, this extension works out
which chapters will miss the jupyter-cache (building each notebook exactly as myst-nb will,
with the cells the book's own extensions append on `source-read`), runs those in parallel kernels, and
stores the results in the cache. myst-nb then finds every one of them cached.

What is executed does not change: same notebook, same working directory, same timeout. One
thing does: once the last cell has answered, the kernel is stopped at once
(`shutdown_kernel="immediate"`) instead of being asked to exit and waited for. A kernel that has
imported torch takes 1-1.7 s on this machine to tear its interpreter down, after every output has
been collected; myst-nb counted that wait as part of each chapter's execution time. So this
extension runs even a single pending chapter (as after an edit, or in `make chapter`).

A chapter whose pre-execution fails is left alone, so myst-nb runs it again during reading and
reports (and, with raise_on_error, fails on) the error in the usual way.
MLBOOK_EXECUTION_JOBS=1 runs the chapters one at a time (the benchmark does, to time each alone).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: How nbclient stops a chapter's kernel after its last cell: at once, not by a request and a wait.
SHUTDOWN = "immediate"


#: The book's own Sphinx extensions: their `source-read` handlers shape what myst-nb executes.
EXTENSIONS = Path(__file__).resolve().parent


def chapter_source(app, docname: str, text: str) -> str:
    """The chapter's text as myst-nb will read it: after the book's own `source-read` handlers.

    (Only those: replaying the event would also run other extensions' handlers, such as
    intersphinx's, which are meant to run once per document while Sphinx reads it.)
    """
    source = [text]
    for listener in sorted(app.events.listeners["source-read"], key=lambda listener: listener.priority):
        code = getattr(listener.handler, "__code__", None)
        if code is not None and Path(code.co_filename).resolve().parent == EXTENSIONS:
            listener.handler(app, docname, source)
    return source[0]


def jobs() -> int:
    """Parallel kernels: MLBOOK_EXECUTION_JOBS, or the number of CPU cores (at most 4)."""
    value = os.environ.get("MLBOOK_EXECUTION_JOBS", "")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"MLBOOK_EXECUTION_JOBS must be a whole number, got {value!r}") from None
    return max(1, min(4, os.cpu_count() or 1))


def _on_env_before_read_docs(app, env, docnames: list[str]) -> None:
    nb_config = env.mystnb_config
    if nb_config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution
    from myst_nb.core.read import create_nb_reader

    cache = get_cache(nb_config.execution_cache_path or ".jupyter_cache")
    pending = []
    for docname in sorted(docnames):
        path = Path(env.doc2path(docname))
        if path.suffix != ".md" or not path.is_file():
            continue
        if any(PurePosixPath(path.as_posix()).match(p) for p in nb_config.execution_excludepatterns or ()):
            continue  # excluded from execution (e.g. by chapter_mode): myst-nb will not run it either
        text = chapter_source(app, docname, path.read_text(encoding="utf-8"))
        reader = create_nb_reader(str(path), env.myst_config, nb_config, text)
        if reader is None:
            continue
        notebook = reader.read(text)
        if not any(cell.cell_type == "code" for cell in notebook.cells):
            continue
        try:
            cache.match_cache_notebook(notebook)
            continue  # already cached: nothing to run
        except KeyError:
            pending.append((path, notebook, reader.read_fmt))
    if not pending:
        return
    workers = min(jobs(), len(pending))
    how = f"in parallel, {workers} at a time" if workers > 1 else "one at a time"

    def run(item):
        path, notebook, _ = item
        logger.info(f"{path}: Executing notebook ({how}) [mlbook]")
        return single_nb_execution(
            notebook,
            cwd=str(path.parent),
            allow_errors=nb_config.execution_allow_errors,
            timeout=nb_config.execution_timeout,
            meta_override=True,
            shutdown_kernel=SHUTDOWN,
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, pending))
    for (path, notebook, read_fmt), result in zip(pending, results, strict=True):
        if result.err is not None:
            logger.info(f"{path}: parallel execution failed; myst-nb will run it again and report [mlbook]")
            continue
        record = (
            cache.add_nb_to_project(str(path), read_data=read_fmt) if read_fmt else cache.add_nb_to_project(str(path))
        )
        cache.cache_notebook_bundle(
            CacheBundleIn(notebook, record.uri, data={"execution_seconds": result.time}),
            check_validity=False,
            overwrite=True,
        )
        logger.info(f"{path}: Executed notebook in {result.time:.2f} seconds [mlbook]")


def setup(app):
    app.connect("env-before-read-docs", _on_env_before_read_docs)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
