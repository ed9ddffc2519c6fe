"""Sphinx extension: every listing of the package's code says where it comes from.

A chapter shows the package's real code with `{literalinclude}` (a function, a class or a few
lines of `code/mlbook/<module>.py`). Pasted alone, such a listing may call the module's private
helpers (`_check`, ...), so the page must say that it is package code and how to use it. On
`source-read` this adds a caption to every listing of `code/mlbook/` that has none:

    From code/mlbook/regularisation.py: `from mlbook.regularisation import ridge`

(the import names the listed object; for a method, its class). The Markdown files are left as
they are, and only the HTML shows the caption: downloaded notebooks already hold each listing as
a code cell headed by where it comes from (plain_notebook.py). Captions are prose, so adding them
re-executes nothing.
"""

from __future__ import annotations

import re

#: A literalinclude of a module of the package, with its options.
LISTING = re.compile(
    r"^(?P<fence>`{3,})\{literalinclude\}[ \t]+(?P<path>\S*code/mlbook/(?P<module>\w+)\.py)[ \t]*\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:.*\n)*)",
    re.MULTILINE,
)
_PYOBJECT = re.compile(r"^[ \t]*:pyobject:[ \t]*(\S+)", re.MULTILINE)


def caption(module: str, pyobject: str | None) -> str:
    """The caption of a listing of `code/mlbook/<module>.py` (of `pyobject`, when it names one)."""
    where = f"From code/mlbook/{module}.py"
    if not pyobject:
        return where
    name = pyobject.split(".")[0]
    return f"{where}: `from mlbook.{module} import {name}`"


def add_captions(text: str) -> str:
    """`text` with a `:caption:` option added to each package listing that has none."""

    def captioned(match: re.Match) -> str:
        options = match["options"]
        if re.search(r"^[ \t]*:caption:", options, re.MULTILINE):
            return match[0]
        pyobject = _PYOBJECT.search(options)
        line = f":caption: {caption(match['module'], pyobject[1] if pyobject else None)}\n"
        head = match[0][: match.start("options") - match.start()]
        return head + line + options

    return LISTING.sub(captioned, text)


def _source_read(app, docname: str, source: list[str]) -> None:
    if docname.startswith("book/"):
        source[0] = add_captions(source[0])


def setup(app):
    app.connect("source-read", _source_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
