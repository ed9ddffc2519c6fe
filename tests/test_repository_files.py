"""The files around the book: CITATION.cff, CONTRIBUTING.md, the pre-commit hooks and Ruff."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import BIN, ROOT, toc_files

CHECK_HEADER = ROOT / "scripts" / "check_myst_header.py"


def tool(name: str) -> str:
    """The executable `name` from the environment running the tests (or else from PATH)."""
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (it comes with requirements.txt)"
    return found


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


# The Citation File Format 1.2.0 schema (https://github.com/citation-file-format/citation-file-format,
# schema.json), reduced to what this file uses. cffconvert validates against the full schema, but
# cffconvert 2.0 requires jsonschema<4, which would downgrade the jsonschema the book's toolchain uses.
CFF_REQUIRED = {"cff-version", "message", "title", "authors"}
CFF_KEYS = {
    "abstract",
    "authors",
    "cff-version",
    "commit",
    "contact",
    "date-released",
    "doi",
    "identifiers",
    "keywords",
    "license",
    "license-url",
    "message",
    "preferred-citation",
    "references",
    "repository",
    "repository-artifact",
    "repository-code",
    "title",
    "type",
    "url",
    "version",
}
CFF_DATE = re.compile(r"^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])$")
CFF_URL = re.compile(r"^(https|http|ftp|sftp)://.+")


def test_citation_follows_the_citation_file_format():
    cff = citation()
    assert CFF_REQUIRED <= set(cff), f"missing {CFF_REQUIRED - set(cff)}"
    assert set(cff) <= CFF_KEYS, f"not CFF 1.2.0 keys: {set(cff) - CFF_KEYS}"
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == "Machine Learning with PyTorch"
    assert cff["type"] in {"software", "dataset"}
    assert cff["authors"] == [{"name": "The Machine Learning with PyTorch authors"}]
    assert all(isinstance(cff[key], str) and cff[key].strip() for key in ("message", "title", "version"))
    # a list of SPDX identifiers is allowed; these are the two licences of LICENSE and LICENSE-TEXT.md
    assert cff["license"] == ["CC-BY-4.0", "MIT"]
    assert isinstance(cff["date-released"], str) and CFF_DATE.match(cff["date-released"]), "a quoted YYYY-MM-DD"
    assert all(CFF_URL.match(cff[key]) for key in ("repository-code", "url"))
    assert cff["keywords"] and all(isinstance(k, str) and k for k in cff["keywords"])
    assert len(set(cff["keywords"])) == len(cff["keywords"])


def test_citation_names_the_repository_of_config_and_the_package_version():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert citation()["repository-code"] == config["repository"]["url"]
    pyproject = (ROOT / "code" / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)  # (tomllib is Python 3.11+)
    assert version and citation()["version"] == version.group(1), "CITATION.cff's version is the package's"


def test_citation_passes_cffconvert_when_it_is_installed():
    found = shutil.which("cffconvert") or (str(BIN / "cffconvert") if (BIN / "cffconvert").exists() else None)
    if not found:
        pytest.skip("cffconvert is not installed (not in requirements.txt: see the comment above)")
    result = subprocess.run([found, "--validate", "-i", str(ROOT / "CITATION.cff")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_contributing_explains_the_commands():
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for command in ("make book", "make test", "make chapter CHAPTER=book/", "pre-commit install"):
        assert command in text, f"CONTRIBUTING.md does not mention `{command}`"
    assert ":class: dropdown" in text, "the skeleton shows collapsed solutions"


def header_of(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def test_contributing_skeleton_has_the_chapters_real_header():
    chapter = header_of((ROOT / "book" / "linear_regression.md").read_text(encoding="utf-8"))
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    skeleton = header_of(text[text.index("````markdown\n") + len("````markdown\n") :])
    for key in ("jupytext", "kernelspec", "file_format"):
        assert skeleton[key] == chapter[key], f"CONTRIBUTING.md's skeleton has a different `{key}`"


# pre-commit


def test_pre_commit_config_is_valid():
    config = ROOT / ".pre-commit-config.yaml"
    result = subprocess.run([tool("pre-commit"), "validate-config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_hooks_are_local_and_run_offline():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {}
    for repo in config["repos"]:
        assert repo["repo"] == "local", "a hook from a remote repository needs the network to install"
        hooks.update({hook["id"]: hook for hook in repo["hooks"]})
    assert all(hook["language"] == "system" for hook in hooks.values())
    entries = " | ".join(hook["entry"] for hook in hooks.values())
    assert "ruff check --fix" in entries and "ruff format" in entries and "scripts/check_myst_header.py" in entries
    assert "scripts/format_chapters.py" in entries


def run_header_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK_HEADER), *args], capture_output=True, text=True)


def test_every_real_chapter_has_the_mystnb_header():
    result = run_header_check()
    assert result.returncode == 0, result.stderr
    chapters = [str(ROOT / f"{name}.md") for name in toc_files()]
    result = run_header_check(*chapters)
    assert result.returncode == 0, result.stderr


def small_book(tmp_path: Path, chapter: str) -> Path:
    """A book with one chapter whose text is `chapter`; returns the chapter's path."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/ch\n")
    (tmp_path / "book" / "intro.md").write_text("# Introduction\n\nNo code here, so no header needed.\n")
    path = tmp_path / "book" / "ch.md"
    path.write_text(chapter)
    return path


CODE_CELL = "```{code-cell} ipython3\nprint(1)\n```\n"


def test_header_check_fails_on_a_chapter_without_the_header(tmp_path):
    chapter = small_book(tmp_path, "(ch)=\n# A chapter\n\n" + CODE_CELL)
    result = run_header_check("--toc", str(tmp_path / "_toc.yml"), str(chapter))
    assert result.returncode == 1
    assert str(chapter) in result.stderr and "no front matter" in result.stderr
    assert "file_format: mystnb" in result.stderr, "the message shows the header to copy"


@pytest.mark.parametrize("missing", ["file_format", "kernelspec", "jupytext"])
def test_header_check_names_the_missing_key(tmp_path, missing):
    header = (ROOT / "book" / "linear_regression.md").read_text(encoding="utf-8").split("\n---\n", 1)[0][4:]
    data = yaml.safe_load(header)
    del data[missing]
    chapter = small_book(tmp_path, "---\n" + yaml.safe_dump(data) + "---\n\n# A chapter\n\n" + CODE_CELL)
    result = run_header_check("--toc", str(tmp_path / "_toc.yml"))  # no files: every chapter in the toc
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(str(chapter))]
    assert f"`{missing}" in line


def test_header_check_passes_a_complete_header_and_ignores_other_files(tmp_path):
    real = (ROOT / "book" / "linear_regression.md").read_text(encoding="utf-8")
    chapter = small_book(tmp_path, real[: real.index("\n---\n", 4) + 5] + "\n# A chapter\n\n" + CODE_CELL)
    stray = tmp_path / "notes.md"  # not in the toc: not a chapter
    stray.write_text(CODE_CELL)
    result = run_header_check("--toc", str(tmp_path / "_toc.yml"), str(chapter), str(stray))
    assert result.returncode == 0, result.stderr


# Ruff


def test_ruff_keeps_the_existing_style():
    config = (ROOT / "ruff.toml").read_text(encoding="utf-8")  # (tomllib is Python 3.11+)
    assert re.search(r"^line-length = 120\b", config, re.MULTILINE)
    assert re.search(r'^quote-style = "double"', config, re.MULTILINE)
    select = re.search(r"^select = \[(.*)\]", config, re.MULTILINE)
    assert select and {"E", "F", "W", "I", "B", "UP"} <= set(re.findall(r'"(\w+)"', select.group(1)))


def test_ruff_formats_the_package_to_fit_the_book_column():
    """code/ruff.toml keeps the root settings but formats the package at 88 columns."""
    config = (ROOT / "code" / "ruff.toml").read_text(encoding="utf-8")
    assert re.search(r'^extend = "\.\./ruff\.toml"', config, re.MULTILINE)
    assert re.search(r"^line-length = 88\b", config, re.MULTILINE)


def test_ruff_check_passes_on_the_repository():
    result = subprocess.run(
        [tool("ruff"), "check", "--no-cache", "--output-format", "concise", "."],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_the_repository_as_it_is():
    result = subprocess.run(
        [tool("ruff"), "format", "--check", "--no-cache", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_runs_every_hook_on_a_clone_and_they_pass(tmp_path):
    """`pre-commit run --all-files` as a contributor would, on a clone (so nothing here is touched)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(BIN.parent)  # the hooks call the tools in .venv: the running one
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    result = subprocess.run(
        [tool("pre-commit"), "run", "--all-files", "--show-diff-on-failure"],
        capture_output=True,
        text=True,
        cwd=clone,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Passed") >= 3, result.stdout
