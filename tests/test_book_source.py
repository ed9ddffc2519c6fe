"""Checks on the book's sources that need no build: the table of contents, front matter,
included code, and the README's chapter -> module -> test table."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, toc_files

CHAPTERS = toc_files()
INCLUDE = re.compile(r"```\{literalinclude\}\s+(\S+)\n((?::\w[\w-]*:.*\n)*)")


def reference_pages() -> list[str]:
    """The pages of the table of contents' "Reference" part (the notation and the glossary)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [
        c["file"]
        for part in toc.get("parts", [])
        if part.get("caption") == "Reference"
        for c in part.get("chapters", [])
    ]


#: The appendices with code: executed like chapters, but with no module, test file or exercises.
EXECUTED_APPENDICES = ["book/mathematics"]
#: Appendices: plain Markdown pages with no code, so no kernel starts for them.
REFERENCE = [name for name in reference_pages() if name not in EXECUTED_APPENDICES]
#: Every other page is a MyST-NB notebook, executed when the book is built.
NOTEBOOKS = [name for name in CHAPTERS if name not in REFERENCE]


def chapter_path(name: str) -> Path:
    return ROOT / f"{name}.md"


def front_matter(text: str) -> str:
    assert text.startswith("---\n"), "a chapter starts with a front-matter block"
    return text.split("\n---\n", 1)[0]


def test_toc_lists_the_part_one_and_two_chapters():
    assert CHAPTERS[:11] == [
        "book/intro",
        "book/setup",
        "book/tensors",
        "book/linear_regression",
        "book/optimisation",
        "book/multivariable",
        "book/feature_scaling",
        "book/basis",
        "book/regularisation",
        "book/evaluation",
        "book/likelihood",
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_chapter_exists_with_mystnb_front_matter(name):
    path = chapter_path(name)
    assert path.is_file(), f"_toc.yml lists {name}, which does not exist"
    header = front_matter(path.read_text(encoding="utf-8"))
    assert "file_format: mystnb" in header
    assert "kernelspec:" in header and "name: python3" in header


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_has_label_summary_and_exercises_with_solutions(name):
    text = chapter_path(name).read_text(encoding="utf-8")
    assert re.search(r"^\([\w-]+\)=\n# ", text, re.MULTILINE), "a label before the title, for cross-references"
    if name != "book/intro" and name not in reference_pages():
        assert "\n## Summary\n" in text and "\n## Exercises\n" in text
        assert ":class: dropdown" in text, "solutions are collapsed"
    for phrase in ("coming soon", "TODO", "TBD", "lorem ipsum"):
        assert phrase.lower() not in text.lower()


@pytest.mark.parametrize("name", CHAPTERS)
def test_included_code_exists(name):
    path = chapter_path(name)
    for target, options in INCLUDE.findall(path.read_text(encoding="utf-8")):
        source = (path.parent / target).resolve()
        assert source.is_file(), f"{name} includes {target}, which does not exist"
        match = re.search(r":pyobject:\s*(\S+)", options)
        if match:
            tree = ast.parse(source.read_text(encoding="utf-8"))
            names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            # A method is shown as Class.method: the class and the method both exist.
            names |= {
                f"{c.name}.{f.name}"
                for c in ast.walk(tree)
                if isinstance(c, ast.ClassDef)
                for f in c.body
                if isinstance(f, ast.FunctionDef)
            }
            assert match.group(1) in names, f"{name} shows {match.group(1)}, which {target} does not define"


def test_chapters_do_not_retype_package_functions():
    """One source of truth: a chapter shows package code with literalinclude, never a copy."""
    package = ROOT / "code" / "mlbook"
    defined = set()
    for module in package.glob("*.py"):
        # module-level functions: the package's API (helpers nested inside them are not)
        defined |= {n.name for n in ast.parse(module.read_text()).body if isinstance(n, ast.FunctionDef)}
    for name in CHAPTERS:
        text = chapter_path(name).read_text(encoding="utf-8")
        retyped = {f for f in defined if re.search(rf"^\s*def {f}\(", text, re.MULTILINE)}
        assert not retyped, f"{name} redefines package functions {retyped}"


def test_readme_table_maps_every_chapter_to_module_and_test():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| [")]
    linked = set(re.findall(r"\]\((book/[\w/]+)\.md\)", "\n".join(rows)))
    assert set(NOTEBOOKS) - set(EXECUTED_APPENDICES) == linked  # the appendices have no module or test
    for row in rows:
        for target in re.findall(r"\]\(((?:code|tests)/[\w/.]+)\)", row):
            assert (ROOT / target).exists(), f"README links {target}, which does not exist"


def test_every_module_has_its_own_test_file():
    for module in (ROOT / "code" / "mlbook").glob("*.py"):
        if module.name == "__init__.py":
            continue
        assert (ROOT / "tests" / f"test_{module.stem}.py").is_file(), f"no tests/test_{module.stem}.py"


#: The files that may name the GitHub repository: _config.yml (for the site's buttons) and CITATION.cff
#: (for GitHub's "Cite this repository"; tests/test_repository_files.py checks that the two agree).
REPOSITORY_URL_FILES = {"_config.yml", "CITATION.cff"}


def test_repository_url_is_set_in_one_place():
    """_config.yml names the GitHub repository; nothing else but CITATION.cff repeats it."""
    import subprocess

    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    files = [ROOT / f for f in tracked] or [
        p for p in ROOT.rglob("*") if ".venv" not in p.parts and "_build" not in p.parts
    ]
    owner_and_name = url.removeprefix("https://github.com/")
    suffixes = {".md", ".py", ".yml", ".yaml", ".toml", ".cff", ".txt"}
    repeats = [
        str(p.relative_to(ROOT))
        for p in files
        if p.is_file()
        and str(p.relative_to(ROOT)) not in REPOSITORY_URL_FILES
        and p.suffix in suffixes
        and owner_and_name in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert not repeats, f"these files repeat the repository address instead of reading _config.yml: {repeats}"


# --- Reference pages (notation, glossary), glossary links and search-engine descriptions ---

TERM_ROLE = re.compile(r"\{term\}`([^`]+)`")
CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```$", re.MULTILINE | re.DOTALL)


def front_matter_data(name: str) -> dict:
    import yaml

    return yaml.safe_load(front_matter(chapter_path(name).read_text(encoding="utf-8")).removeprefix("---\n")) or {}


def description(name: str) -> str | None:
    """The page's description for search engines: `myst: html_meta: "description lang=en"`."""
    meta = (front_matter_data(name).get("myst") or {}).get("html_meta") or {}
    found = [value for key, value in meta.items() if key.split()[0] == "description"]
    assert len(found) <= 1, f"{name} has {len(found)} descriptions"
    return found[0] if found else None


def glossary_terms() -> set[str]:
    """Every term the glossary defines (Sphinx matches terms without regard to case)."""
    text = chapter_path("book/glossary").read_text(encoding="utf-8")
    blocks = re.findall(r"^```\{glossary\}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "the glossary page holds one glossary directive"
    lines = blocks[0].splitlines()
    return {
        line.strip().lower() for line in lines if line.strip() and not line[0].isspace() and not line.startswith(":")
    }


def term_references(name: str) -> list[str]:
    """The terms a page's prose links with {term}`term` or {term}`text <term>`, lower-cased."""
    prose = CODE_CELL.sub("", chapter_path(name).read_text(encoding="utf-8"))
    targets = []
    for role in TERM_ROLE.findall(prose):
        match = re.fullmatch(r"(?s).*<([^<>]+)>", role)
        targets.append(" ".join((match.group(1) if match else role).split()).lower())
    return targets


def test_notation_and_glossary_are_the_unnumbered_reference_part_of_the_toc():
    import yaml

    parts = yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
    assert parts[-1]["caption"] == "Reference" and parts[-1]["numbered"] is False
    assert REFERENCE == ["book/notation", "book/glossary"]
    assert reference_pages() == ["book/mathematics", *REFERENCE]


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_page_is_plain_markdown_with_a_label(name):
    """No code and no kernel: as a MyST-NB notebook the page would start a kernel to run nothing."""
    text = chapter_path(name).read_text(encoding="utf-8")
    header = front_matter(text)
    assert "kernelspec" not in header and "file_format" not in header and "jupytext" not in header
    assert "{code-cell}" not in text
    label = name.removeprefix("book/")
    assert f"\n({label})=\n# " in text, f"the page's label is ({label})="


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_page_has_a_description_for_search_engines(name):
    header = front_matter_data(name)
    assert "html_meta" not in header, "myst-parser 3 wants html_meta under the `myst` key (top level is deprecated)"
    text = description(name)
    assert text, f'{name} needs myst: html_meta: "description lang=en" in its front matter'
    assert 50 <= len(text) <= 170, f"{name}'s description has {len(text)} characters; search engines show 50 to 170"
    assert "\n" not in text and text == text.strip()


def test_descriptions_are_unique():
    texts = [description(name) for name in CHAPTERS]
    assert len(set(texts)) == len(texts), "two pages share a description"


def test_glossary_defines_every_term_the_pages_link():
    defined = glossary_terms()
    assert len(defined) >= 30
    for name in CHAPTERS:
        missing = set(term_references(name)) - defined
        assert not missing, f"{name} links terms the glossary does not define: {sorted(missing)}"


def test_glossary_is_sorted_when_built():
    text = chapter_path("book/glossary").read_text(encoding="utf-8")
    assert re.search(r"^```\{glossary\}\n:sorted:\n", text, re.MULTILINE)


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n != "book/intro"])
def test_each_chapter_links_to_the_glossary(name):
    assert term_references(name), f"{name} should link at least one glossary term with {{term}}"


def test_readers_are_pointed_to_the_notation_and_the_glossary():
    text = chapter_path("book/intro").read_text(encoding="utf-8") + chapter_path("book/setup").read_text(
        encoding="utf-8"
    )
    assert "{ref}`notation`" in text and "{ref}`glossary`" in text


#: The book's article column fits about 82-88 monospace characters; code/ruff.toml formats
#: the package at 88 so that code shown with `literalinclude` never scrolls sideways.
SHOWN_CODE_WIDTH = 88


def test_code_shown_in_the_book_fits_the_column():
    files = sorted((ROOT / "code" / "mlbook").rglob("*.py"))
    assert files, "no Python files under code/mlbook"
    too_long = [
        f"{path.relative_to(ROOT)}:{number}: {len(line)} characters"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > SHOWN_CODE_WIDTH
    ]
    message = f"lines over {SHOWN_CODE_WIDTH} characters scroll sideways in the book: "
    assert not too_long, message + "; ".join(too_long)


def code_cell_lines(text: str) -> list[str]:
    """Every line inside the chapter's code cells, options included (a second, simpler reader
    than scripts/format_chapters.py, so that the two check each other)."""
    bodies = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", text, flags=re.M | re.S)
    return [line for body in bodies for line in body.splitlines() if not line.startswith(("    alt:", "    caption:"))]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_chapter_code_fits_the_column(name):
    """Code shown on a page (or in the downloaded notebook) must not scroll sideways."""
    lines = code_cell_lines((ROOT / f"{name}.md").read_text(encoding="utf-8"))
    assert lines, f"no code cells found in {name}"
    too_long = [f"{len(line)}: {line}" for line in lines if len(line) > SHOWN_CODE_WIDTH]
    assert not too_long, f"code lines over {SHOWN_CODE_WIDTH} characters in {name}.md: " + "; ".join(too_long)


def run_format_chapters(*args: str) -> subprocess.CompletedProcess:
    script = ROOT / "scripts" / "format_chapters.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True)


def test_chapter_cells_are_ruff_formatted():
    result = run_format_chapters("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_format_chapters_formats_only_code_and_names_what_it_cannot_fix(tmp_path):
    chapter = tmp_path / "ch.md"
    prose = "# A chapter\n\nSome prose   with  odd spacing, which must stay as it is.\n\n"
    options = '---\ntags: [hide-input]\nmystnb:\n  image:\n    alt: "A picture."\n---\n'
    messy = "x = {'a':1,\n  'b':2}\n"
    long_string = 'print("' + "a" * 100 + '")\n'
    chapter.write_text(
        prose
        + "```{code-cell} ipython3\n"
        + options
        + messy
        + "```\n\n"
        + "```{code-cell} ipython3\n:tags: [remove-cell]\n\n"
        + long_string
        + "```\n"
        + "\nMore prose.\n",
        encoding="utf-8",
    )
    check = run_format_chapters("--check", str(chapter))
    assert check.returncode == 1
    assert f"{chapter}:5: the cell is not formatted" in check.stdout
    assert f"{chapter}:19: 109 characters of code" in check.stdout
    assert chapter.read_text(encoding="utf-8").count("'a':1") == 1, "--check must not change the file"

    fixed = run_format_chapters(str(chapter))
    assert fixed.returncode == 1, "a line ruff cannot shorten still fails"
    assert f"{chapter}:19: 106 characters of code" in fixed.stderr  # the line as ruff left it
    text = chapter.read_text(encoding="utf-8")
    assert "```{code-cell} ipython3\n" + options + 'x = {"a": 1, "b": 2}\n```\n' in text
    assert text.startswith(prose) and text.endswith("\nMore prose.\n")
    assert ':tags: [remove-cell]\n\nprint(\n    "' + "a" * 100 + '"\n)\n```' in text


def test_format_chapters_reports_a_cell_ruff_cannot_parse(tmp_path):
    chapter = tmp_path / "ch.md"
    chapter.write_text("# A chapter\n\n```{code-cell} ipython3\ndef broken(:\n```\n", encoding="utf-8")
    result = run_format_chapters("--check", str(chapter))
    assert result.returncode == 1
    assert f"{chapter}:3" in result.stderr and "could not format" in result.stderr


#: Words that point a reader to a later part of the book.
_FORWARD = re.compile(
    r"later (?:chapters?|in the book|parts?)|(?:chapters?|parts?) (?:that|which) follows?\b|"
    r"(?:chapters?|parts?) to follow\b|following (?:chapters?|parts?)|next (?:part|chapters?)|"
    r"part (?:iii|iv|v)\b|(?:neural[- ]network|classification) chapters?",
    re.IGNORECASE,
)
_LINK = re.compile(r"\{(?:ref|doc|numref)\}`(?:[^`<]*<)?([^`>]+)>?`")


def _sentences(text: str) -> list[str]:
    """The prose of a page (code blocks and cells left out), one sentence per item."""
    prose = re.sub(r"^(`{3,}|:{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)
    return re.split(r"(?<=[.!?])\s+", prose.replace("\n", " "))


@pytest.mark.parametrize("name", CHAPTERS)
def test_no_promise_of_a_chapter_that_does_not_exist(name):
    """A sentence that sends the reader to a later chapter links it, and the link's target is a
    page or label of this book (errata X3: promises of chapters not written yet)."""
    labels = {
        label for page in CHAPTERS for label in re.findall(r"^\(([\w-]+)\)=", chapter_path(page).read_text(), re.M)
    }
    pages = {Path(p).name for p in CHAPTERS} | set(CHAPTERS)
    for sentence in _sentences(chapter_path(name).read_text()):
        if not _FORWARD.search(sentence) or sentence.lstrip().startswith("#"):
            continue
        targets = _LINK.findall(sentence)
        assert targets, f"{name}: a sentence points to a later chapter without linking it: {sentence.strip()!r}"
        missing = [t for t in targets if t not in labels and t.lstrip("/") not in pages]
        assert not missing, f"{name}: links to {missing}, which this book does not have"
