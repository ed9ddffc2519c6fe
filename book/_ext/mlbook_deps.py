"""Sphinx extension: re-execute a chapter exactly when package code it uses changes.

jupyter-cache decides whether a chapter must run again from its code cells alone, and Sphinx
re-reads a page only when the page itself changes, so an edit to `code/mlbook/*.py` would
leave stale outputs on the site. For each chapter this extension

1. finds the package modules it uses: `import mlbook.x`, `from mlbook.x import ...`,
   `from mlbook import x`, files shown with `literalinclude` or loaded with `:load:`, files a
   code cell opens by a relative path such as "../data/x.csv", and every `mlbook` module those
   import in turn;
2. tells Sphinx the page depends on those files (so an edit makes Sphinx re-read it), and
3. appends a hidden code cell holding a hash of their contents, so the notebook's cache key
   changes with the code and jupyter-cache executes the chapter again. A prose-only edit, or a
   change to a module the chapter does not use, leaves the key as it was.
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

PACKAGE = "mlbook"
CELL_TAG = "mlbook-dependencies"

_IMPORT_MODULE = re.compile(rf"^\s*(?:from|import)\s+({PACKAGE}(?:\.\w+)*)", re.MULTILINE)
_FROM_PACKAGE = re.compile(rf"^\s*from\s+{PACKAGE}\s+import\s+\(?([\w\s,]+)\)?", re.MULTILINE)
_STRING = re.compile(r"""["']([\w./-]+)["']""")
_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INCLUDE = re.compile(r"^\s*(?:```+|:::+)\{literalinclude\}\s+(\S+)|^\s*:load:\s+(\S+)", re.MULTILINE)


def module_file(package_dir: Path, module: str) -> Path | None:
    """The source file of `mlbook.a.b`, or None if there is none."""
    parts = module.split(".")[1:]
    if not parts:
        return package_dir / "__init__.py"
    candidate = package_dir.joinpath(*parts)
    for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(text: str) -> set[str]:
    """`mlbook` module names imported anywhere in `text` (code or Markdown code cells)."""
    found = {m.group(1) for m in _IMPORT_MODULE.finditer(text)}
    for match in _FROM_PACKAGE.finditer(text):
        for name in match.group(1).replace("\n", " ").split(","):
            name = name.strip().split(" as ")[0].strip()
            if name:
                found.add(f"{PACKAGE}.{name}")
    return found


def _module_imports(path: Path) -> set[str]:
    """`mlbook` modules that the Python file at `path` imports, at any depth in the file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError:
        return _imported_modules(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == PACKAGE:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def chapter_dependencies(source: str, doc_dir: Path, package_dir: Path) -> list[Path]:
    """Every file the chapter with Markdown `source` (in `doc_dir`) runs or shows, sorted."""
    files: set[Path] = set()
    for match in _INCLUDE.finditer(source):
        target = (doc_dir / (match.group(1) or match.group(2))).resolve()
        if target.is_file():
            files.add(target)
    for cell in _CODE_CELL.finditer(source):  # files a cell opens by a relative path: data, config
        for literal in _STRING.findall(cell.group(1)):
            target = (doc_dir / literal).resolve()
            if "/" in literal and target.is_file() and package_dir.resolve().parents[1] in target.parents:
                files.add(target)
    code = "\n".join(cell.group(1) for cell in _CODE_CELL.finditer(source))
    pending = set(_imported_modules(code))
    pending.update(
        f"{PACKAGE}." + ".".join(p.relative_to(package_dir.resolve()).with_suffix("").parts)
        for p in list(files)
        if p.suffix == ".py" and package_dir.resolve() in p.parents
    )
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(package_dir, module)
        if path is None:
            continue  # `from mlbook.x import name`: `mlbook.x.name` is not a module
        files.add(path.resolve())
        pending.update(_module_imports(path) - seen)
    if seen:  # importing any submodule first runs the package's __init__.py
        files.add((package_dir / "__init__.py").resolve())
    return sorted(files)


def chapters_using(path: Path, chapters: list[Path], package_dir: Path) -> list[Path]:
    """The chapters (Markdown files) that an edit to the file at `path` re-executes."""
    path = path.resolve()
    return [
        chapter
        for chapter in chapters
        if path in chapter_dependencies(chapter.read_text(encoding="utf-8"), chapter.parent, package_dir)
    ]


def fingerprint(files: list[Path], root: Path) -> str:
    """A hash of the files' names (relative to `root`) and contents."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.resolve().relative_to(root.resolve()).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def dependency_cell(files: list[Path], root: Path) -> str:
    """The hidden code cell appended to a chapter (its text is part of the cache key)."""
    names = ", ".join(p.resolve().relative_to(root.resolve()).as_posix() for p in files)
    return (
        "\n\n```{code-cell} ipython3\n"
        f":tags: [remove-cell, {CELL_TAG}]\n\n"
        f"# Uses {names}; their hash: {fingerprint(files, root)}\n"
        "```\n"
    )


def with_dependency_cell(app, docname: str, text: str) -> tuple[str, list[Path]]:
    """The chapter's source with its dependency cell appended, and the files it depends on."""
    if "{code-cell}" not in text:
        return text, []
    doc_path = Path(app.env.doc2path(docname))
    files = chapter_dependencies(text, doc_path.parent, app.config.mlbook_package_dir_path)
    if files:
        text = text.rstrip("\n") + dependency_cell(files, app.config.mlbook_root_path)
    return text, files


def _on_source_read(app, docname: str, source: list[str]) -> None:
    source[0], files = with_dependency_cell(app, docname, source[0])
    # (what env.note_dependency does, but for a named document: parallel_execute also calls this
    # handler, before Sphinx reads any document)
    app.env.dependencies[docname].update(str(path) for path in files)


def _on_config_inited(app, config) -> None:
    # The book's root holds the package; a one-page build (`make chapter`) has its confdir in book/.
    confdir = Path(app.confdir).resolve()
    root = next((p for p in (confdir, *confdir.parents) if (p / config.mlbook_package_dir).is_dir()), None)
    if root is None:
        raise ValueError(
            f"mlbook_package_dir {config.mlbook_package_dir!r} is not a folder under {confdir} or any folder above it"
        )
    config.mlbook_root_path = root
    config.mlbook_package_dir_path = (root / config.mlbook_package_dir).resolve()


def setup(app):
    app.add_config_value("mlbook_package_dir", "code/mlbook", "env")
    app.add_config_value("mlbook_root_path", None, "")
    app.add_config_value("mlbook_package_dir_path", None, "")
    app.connect("config-inited", _on_config_inited)
    app.connect("source-read", _on_source_read)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
