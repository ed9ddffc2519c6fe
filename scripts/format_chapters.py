"""Format the Python in the chapters' `{code-cell}`s with ruff, at the package's 88 columns.

The article column fits about 82-88 monospace characters, so a longer line in a code cell makes
the reader scroll sideways (on a phone, far more). The package is kept within 88 columns by
code/ruff.toml; this does the same for the code inside the chapters' MyST Markdown, which ruff
cannot read itself. Cell options (the `---` block or `:tags:` lines) and all prose are left as
they are; only a cell's code is replaced by what `ruff format --config code/ruff.toml` makes
of it.

Usage: python scripts/format_chapters.py [--check] [FILE ...]

With no files, formats every `book/*.md`. With --check, changes nothing: names each cell that
ruff would change, or with a line that is still over 88 characters (a long string or comment,
which ruff leaves alone), and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "code" / "ruff.toml"
WIDTH = 88  # code/ruff.toml's line-length
FENCE = re.compile(r"^(`{3,})\{code-cell\}")


@dataclass
class Cell:
    path: Path
    line: int  # 1-based line of the cell's opening fence
    start: int  # index of the first code line in the file's lines
    end: int  # index of the closing fence
    code: str


def find_cells(path: Path, lines: list[str]) -> list[Cell]:
    """Every code cell in a MyST Markdown file, with where its code starts and ends."""
    cells = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        opening, fence = i, match.group(1)
        i += 1
        if i < len(lines) and lines[i].rstrip() == "---":  # a YAML block of options
            i += 1
            while i < len(lines) and lines[i].rstrip() != "---":
                i += 1
            i += 1
        elif i < len(lines) and lines[i].startswith(":"):  # `:key: value` options, then a blank line
            while i < len(lines) and lines[i].startswith(":"):
                i += 1
            if i < len(lines) and not lines[i].strip():
                i += 1
        start = i
        while i < len(lines) and lines[i].rstrip() != fence:
            i += 1
        if i == len(lines):
            raise SystemExit(f"{path}:{opening + 1}: a code cell that is never closed (no {fence} line)")
        cells.append(Cell(path, opening + 1, start, i, "".join(lines[start:i])))
        i += 1
    return cells


def ruff_format(codes: list[str]) -> list[str]:
    """The cells' code as ruff formats it (one ruff run for all of them)."""
    with tempfile.TemporaryDirectory(prefix="mlbook-cells-") as tmp:
        files = [Path(tmp) / f"cell_{k:04d}.py" for k in range(len(codes))]
        for file, code in zip(files, codes, strict=True):
            file.write_text(code, encoding="utf-8")
        if files:
            result = subprocess.run(
                [sys.executable, "-m", "ruff", "format", "--config", str(CONFIG), "--no-cache", tmp],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise RuntimeError(result.stderr)
        return [file.read_text(encoding="utf-8") for file in files]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="chapters (default: every book/*.md)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    args = parser.parse_args(argv)
    paths = args.files or sorted((ROOT / "book").glob("*.md"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")

    files = {path: path.read_text(encoding="utf-8").splitlines(keepends=True) for path in paths}
    cells = [cell for path, lines in files.items() for cell in find_cells(path, lines)]
    try:
        formatted = ruff_format([cell.code for cell in cells])
    except RuntimeError as error:  # ruff names the cell file and the syntax error
        numbered = "\n".join(f"  cell_{k:04d}.py = {c.path}:{c.line}" for k, c in enumerate(cells))
        print(f"ruff could not format a cell:\n{error}\nwhere\n{numbered}", file=sys.stderr)
        return 1

    unformatted = [
        f"{where(cell.path, cell.line)}: the cell is not formatted as ruff formats it"
        for cell, new in zip(cells, formatted, strict=True)
        if new != cell.code
    ]
    if args.check:
        problems = unformatted + too_wide(files)
        for problem in problems:
            print(problem)
        return 1 if problems else 0

    # Replace from the last cell up, so the earlier cells' line numbers stay valid.
    for cell, new in reversed(list(zip(cells, formatted, strict=True))):
        if new != cell.code:
            files[cell.path][cell.start : cell.end] = new.splitlines(keepends=True)
    for path, lines in files.items():
        text = "".join(lines)
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            print(f"formatted {path}")
    problems = too_wide(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def where(path: Path, line: int) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return f"{shown}:{line}"


def too_wide(files: dict[Path, list[str]]) -> list[str]:
    """Each code line wider than the column, by its line number in the file."""
    problems = []
    for path, lines in files.items():
        for cell in find_cells(path, lines):
            for number in range(cell.start, cell.end):
                width = len(lines[number].rstrip("\n"))
                if width > WIDTH:
                    problems.append(
                        f"{where(path, number + 1)}: {width} characters of code (at most {WIDTH} fit the column)"
                    )
    return problems


if __name__ == "__main__":
    raise SystemExit(main())
