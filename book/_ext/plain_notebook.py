"""Turn a chapter's MyST cells into what plain Jupyter (and Colab) can show (used by notebooks.py).

A chapter's Markdown is MyST: roles such as {glue:text}, {term} and {ref}, `(label)=` lines, and
directives (literalinclude, admonition, div) that Jupyter would show as raw text. Here

- a glued value becomes its text, formatted as the page formats it (myst-nb's own
  `format_plain_text`), from the values the book's execution glued;
- {term} and {ref} become links to the published page (the glossary entry, the section);
- `(label)=` lines are dropped; an admonition becomes its bold title and its text; a div its text;
- a literalinclude becomes a code cell holding exactly the lines the page shows (Sphinx's own
  `LiteralIncludeReader`), headed by an import of the names it uses from its module, so that the
  cell runs anywhere and what it defines behaves as the package's copy does.

Anything else in MyST syntax is an error (`UnknownSyntax`): the build reports it rather than
publish a notebook that shows raw syntax.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: A role in text: {name}`content`.
ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
LABEL_LINE = re.compile(r"^\([\w.:-]+\)=[ \t]*\n?", re.MULTILINE)
FENCE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<argument>.*)$")
OPTION = re.compile(r"^:([\w-]+):[ \t]*(.*)$")
#: What a finished notebook's Markdown must not contain (the tests look for the same).
LEFTOVER = re.compile(r"\{[\w:-]+\}`|^\([\w.:-]+\)=\s*$|^(`{3,}|:{3,})\{", re.MULTILINE)


#: Heads every listing cell: its annotations then name classes that need not exist yet.
FUTURE = "from __future__ import annotations"


class UnknownSyntax(ValueError):
    """MyST syntax this module cannot turn into plain Markdown."""


@dataclass
class Resolver:
    """What the conversion needs to know about the built book."""

    site: str  # the published site, ending in "/"
    labels: dict[str, tuple[str, str, str]]  # label -> (docname, anchor, section title)
    terms: dict[str, tuple[str, str]]  # glossary term, lower-cased -> (docname, anchor)
    glue: dict[str, dict] = field(default_factory=dict)  # glued name -> its output's data
    read_include: Callable[[Path, dict[str, str]], str] | None = None  # (file, options) -> text

    def url(self, docname: str, anchor: str) -> str:
        return f"{self.site}{docname}.html" + (f"#{anchor}" if anchor else "")


def _split_target(content: str) -> tuple[str | None, str]:
    """`text <target>` -> (text, target); `target` -> (None, target)."""
    match = re.fullmatch(r"(.*?)\s*<([^<>]+)>", content.strip(), re.DOTALL)
    return (match.group(1), match.group(2)) if match else (None, content.strip())


def replace_role(name: str, content: str, resolver: Resolver) -> str:
    from myst_nb.core.variables import format_plain_text

    if name in ("glue", "glue:text"):
        key, _, spec = content.rpartition(":") if ":" in content else (content, "", "")
        key = key or content
        data = resolver.glue.get(key)
        if data is None or "text/plain" not in data:
            raise UnknownSyntax(f"no glued text for {{{name}}}`{content}`")
        return format_plain_text(data["text/plain"], spec)
    if name == "term":
        text, target = _split_target(content)
        found = resolver.terms.get(target.lower())
        if found is None:
            raise UnknownSyntax(f"{{term}}`{content}`: no glossary entry {target!r}")
        return f"[{text or target}]({resolver.url(*found)})"
    if name == "ref":
        text, target = _split_target(content)
        found = resolver.labels.get(target)
        if found is None:
            raise UnknownSyntax(f"{{ref}}`{content}`: no label {target!r}")
        docname, anchor, title = found
        return f"[{text or title}]({resolver.url(docname, anchor)})"
    raise UnknownSyntax(f"the role {{{name}}} (in {{{name}}}`{content}`)")


def plain_text(text: str, resolver: Resolver) -> str:
    """Markdown text (no directives) with its roles and label lines replaced."""
    text = LABEL_LINE.sub("", text)
    return ROLE.sub(lambda m: replace_role(m.group(1), m.group(2), resolver), text)


def _blocks(text: str):
    """Split Markdown into ("text", str) and ("directive", name, argument, options, body)."""
    lines = text.split("\n")
    i, plain = 0, []
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            plain.append(lines[i])
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == match["fence"]), None)
        if end is None:
            raise UnknownSyntax(f"a {{{match['name']}}} directive that is never closed")
        body = lines[i + 1 : end]
        options = {}
        while body and (option := OPTION.match(body[0])):
            value = option.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":  # as MyST reads it
                value = value[1:-1]
            options[option.group(1)] = value
            body = body[1:]
        yield "text", "\n".join(plain)
        plain = []
        yield "directive", match["name"], match["argument"].strip(), options, "\n".join(body).strip("\n")
        i = end + 1
    yield "text", "\n".join(plain)


def convert_markdown(text: str, doc_dir: Path, resolver: Resolver) -> list[tuple[str, str]]:
    """A Markdown cell's MyST as a list of ("markdown", text) and ("code", source) cells."""
    cells: list[tuple[str, str]] = []

    def add(kind: str, source: str) -> None:
        if not source.strip():
            return
        if kind == "markdown" and cells and cells[-1][0] == "markdown":
            cells[-1] = ("markdown", cells[-1][1].rstrip("\n") + "\n\n" + source.strip("\n"))
        else:
            cells.append((kind, source.strip("\n")))

    for block in _blocks(text):
        if block[0] == "text":
            add("markdown", plain_text(block[1], resolver))
            continue
        _, name, argument, options, body = block
        if name == "literalinclude":
            add("code", listing_cell(doc_dir / argument, options, resolver))
        elif name == "admonition":
            inner = convert_markdown(body, doc_dir, resolver)
            if not inner or inner[0][0] != "markdown":
                inner.insert(0, ("markdown", ""))
            inner[0] = ("markdown", f"**{plain_text(argument, resolver)}**\n\n{inner[0][1]}")
            for kind, source in inner:
                add(kind, source)
        elif name == "div":
            for kind, source in convert_markdown(body, doc_dir, resolver):
                add(kind, source)
        else:
            raise UnknownSyntax(f"the directive {{{name}}}")
    return cells


def used_names(source: str) -> set[str]:
    """The names a listing reads but does not define itself (builtins aside)."""
    nodes = list(ast.walk(ast.parse(source)))
    loaded = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {n.arg for n in nodes if isinstance(n, ast.arg)}
    bound |= {n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return loaded - bound - set(dir(builtins))


def module_names(path: Path) -> set[str]:
    """The names a module defines or imports at its top level."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return found


def listing_cell(path: Path, options: dict[str, str], resolver: Resolver) -> str:
    """The code cell for a literalinclude of `path` (a file of the mlbook package)."""
    if resolver.read_include is None:
        raise UnknownSyntax("a literalinclude, with no way to read it")
    try:
        source = resolver.read_include(path, options).rstrip("\n")
    except (OSError, ValueError) as error:
        raise UnknownSyntax(f"the literalinclude of {path}: {error}") from None
    parts = path.resolve().parts
    if "mlbook" not in parts or path.suffix != ".py":
        raise UnknownSyntax(f"a literalinclude of {path}, which is not a module of the mlbook package")
    module = "mlbook." + ".".join(parts[parts.index("mlbook") + 1 :]).removesuffix(".py")
    shown = f"code/{'/'.join(parts[parts.index('mlbook') :])}"
    # Everything the listing uses from its module, private helpers included: run here, it then
    # behaves exactly as the package's copy (and a reader's edit to it takes effect).
    needed = sorted(used_names(source) & module_names(path))
    head = [f"# Shown from {shown}, the package's own code: running this cell defines it here."]
    head.append(FUTURE)
    if needed:
        head.append(f"\nfrom {module} import {', '.join(needed)}")
    return "\n".join(head) + "\n\n" + source
