"""Check that the book's MyST Markdown notebooks carry the MyST-NB front matter.

Without the header a chapter's `{code-cell}`s are silently not executed: the page builds, with a
warning at most, and shows code without output. Every `.md` page listed in _toc.yml that is a
notebook (it has a `{code-cell}`, or a front matter with any of `jupytext`, `kernelspec` or
`file_format`) must start with the header in `EXPECTED` below (the chapters' own).

Usage: python scripts/check_myst_header.py [--toc _toc.yml] [FILE ...]

With files (as pre-commit passes them), checks those of them that _toc.yml lists, and every listed
chapter when _toc.yml itself is among them; with none, checks every chapter _toc.yml lists.
Plain Markdown pages (no code cells, no notebook keys: a glossary, say) are left alone.
Exits 1, naming each file and what its header lacks, if any check fails.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_KEYS = ("jupytext", "kernelspec", "file_format")
CODE_CELL = re.compile(r"^[ \t]*(?:`{3,}|:{3,})[ \t]*\{code-cell\}", re.MULTILINE)

EXPECTED = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
file_format: mystnb
---"""


def toc_entries(node: object) -> Iterator[str]:
    """Every `root`, `file` and `glob` entry of a Jupyter Book table of contents, in order."""
    if isinstance(node, dict):
        for key in ("root", "file", "glob"):
            if isinstance(node.get(key), str):
                yield f"{key}:{node[key]}"
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from toc_entries(value)
    elif isinstance(node, list):
        for item in node:
            yield from toc_entries(item)


def toc_chapters(toc: Path) -> tuple[list[Path], list[str]]:
    """The MyST Markdown pages that `toc` lists, and the entries that name no existing page."""
    base = toc.parent
    pages: list[Path] = []
    missing: list[str] = []
    for entry in toc_entries(yaml.safe_load(toc.read_text(encoding="utf-8"))):
        kind, name = entry.split(":", 1)
        if kind == "glob":
            pages += sorted(p for p in base.glob(name + ("" if name.endswith(".md") else ".md")) if p.is_file())
            continue
        candidates = (
            [base / name] if Path(name).suffix in {".md", ".ipynb"} else [base / f"{name}.md", base / f"{name}.ipynb"]
        )
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            missing.append(name)
        elif found.suffix == ".md":  # a .ipynb is a notebook already and needs no header
            pages.append(found)
    return pages, missing


def front_matter(text: str) -> dict | None:
    """The YAML front matter at the top of `text`, or None if there is none."""
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---", 3)
    if end == -1:
        return None
    data = yaml.safe_load(text[4:end])
    return data if isinstance(data, dict) else None


def header_problems(path: Path) -> list[str]:
    """What the MyST-NB header of the page at `path` lacks (empty if nothing, or not a notebook)."""
    text = path.read_text(encoding="utf-8")
    try:
        header = front_matter(text)
    except yaml.YAMLError as error:
        return [f"its front matter is not valid YAML ({error})"]
    if not CODE_CELL.search(text) and not any(key in (header or {}) for key in NOTEBOOK_KEYS):
        return []  # plain Markdown, not a notebook
    if header is None:
        return ["it has code cells but no front matter (a block between two `---` lines at the very top)"]
    problems = []
    jupytext = header.get("jupytext")
    representation = jupytext.get("text_representation") if isinstance(jupytext, dict) else None
    if not isinstance(representation, dict):
        problems.append("`jupytext: text_representation:` is missing")
    elif representation.get("format_name") != "myst":
        problems.append(
            f"`jupytext.text_representation.format_name` should be `myst`, found {representation.get('format_name')!r}"
        )
    kernelspec = header.get("kernelspec")
    if not isinstance(kernelspec, dict) or not kernelspec.get("name"):
        problems.append("`kernelspec:` (with `name: python3`) is missing")
    if header.get("file_format") != "mystnb":
        problems.append(f"`file_format: mystnb` is missing (found {header.get('file_format')!r})")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--toc", type=Path, default=ROOT / "_toc.yml", help="the table of contents (default: %(default)s)"
    )
    parser.add_argument("files", nargs="*", type=Path, help="files to check (default: every chapter in the toc)")
    args = parser.parse_args(argv)
    toc = args.toc.resolve()
    chapters, missing = toc_chapters(toc)
    if not args.files or any(f.resolve() == toc for f in args.files):
        selected = chapters
    else:
        given = {f.resolve() for f in args.files}
        selected = [c for c in chapters if c.resolve() in given]  # other files are not book chapters

    failures = [f"{toc}: lists {name}, which does not exist (as .md or .ipynb)" for name in missing]
    for chapter in selected:
        failures += [f"{chapter}: {problem}" for problem in header_problems(chapter)]
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print(
            f"\nWithout the MyST-NB header a chapter's code cells do not run. Start the file with:\n\n{EXPECTED}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
