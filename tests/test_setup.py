"""Tests for mlbook.setup, and for the claims of the Setup chapter that code can check."""

import json
import platform
import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import torch
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from mlbook.setup import (
    CONTRIBUTOR_PACKAGES,
    LEARNER_PACKAGES,
    MINIMUM_PYTHON,
    environment_report,
    format_report,
    main,
    package_version,
    problems,
    python_range,
)

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = (ROOT / "book" / "setup.md").read_text(encoding="utf-8")


def requirement_names(path: Path) -> dict[str, Requirement]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): r for r in found}


def test_report_names_versions_and_the_device():
    report = environment_report()
    assert report["python"] == platform.python_version()
    assert report["torch"] == torch.__version__
    assert report["device the book will use"] in {"cpu", "cuda", "mps"}
    assert report["cuda available"] == ("yes" if torch.cuda.is_available() else "no")


def test_missing_package_is_reported():
    assert package_version("surely-not-an-installed-package") == "not installed"
    report = {**environment_report(), "torch": "not installed", "python": "3.8.10"}
    found = problems(report)
    assert any("torch is not installed" in p for p in found)
    assert any("older than 3.11" in p for p in found)
    # F12: the advice is the learner's path (torch, then the package), not requirements.txt.
    missing = next(p for p in found if "torch is not installed" in p)
    assert "requirements.txt" not in missing and "pip install -e code/" in missing
    assert problems(environment_report()) == []


def test_an_x86_64_python_on_macos_is_a_problem():
    report = {**environment_report(), "platform": "Darwin x86_64"}
    assert any("x86_64" in p and "arm64" in p for p in problems(report))
    assert not problems({**environment_report(), "platform": "Darwin arm64"})


def test_a_gpu_that_counts_but_cannot_compute_is_a_problem(monkeypatch):
    """F1: is_available only counts devices; an old GPU fails at its first kernel."""
    import mlbook.setup as setup

    def no_kernel():
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\nmore")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Old GPU")
    monkeypatch.setattr(setup, "_tiny_cuda_operation", no_kernel)
    report = environment_report()
    assert report["cuda available"] == "yes" and report["device the book will use"] == "cuda"
    assert report["cuda computes"] == "no: CUDA error: no kernel image is available for execution on the device"
    found = problems(report)
    assert len(found) == 1 and "no kernel image" in found[0] and "--device cpu" in found[0], found
    monkeypatch.setattr(setup, "_tiny_cuda_operation", lambda: None)
    assert environment_report()["cuda computes"] == "yes" and problems(environment_report()) == []


def test_the_cuda_check_says_what_this_machine_does():
    from mlbook.setup import cuda_computes

    answer = cuda_computes()
    assert (answer == "yes") if torch.cuda.is_available() else answer.startswith("no: "), answer


def test_format_lines_up_names():
    text = format_report({"a": "1", "longer name": "2"})
    assert text.splitlines() == ["a            1", "longer name  2"]


def test_main_prints_json(capsys):
    assert main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["torch"] == torch.__version__


def test_learner_and_contributor_packages_split_the_requirements():
    """The chapter's split (S13): torch plus the package's dependencies, then the rest."""
    required = requirement_names(ROOT / "requirements.txt")
    assert set(LEARNER_PACKAGES) | set(CONTRIBUTOR_PACKAGES) >= set(required)
    assert not set(LEARNER_PACKAGES) & set(CONTRIBUTOR_PACKAGES)
    project = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text(encoding="utf-8"))
    package_deps = {Requirement(d).name.lower() for d in project["project"]["dependencies"]}
    assert set(LEARNER_PACKAGES) == package_deps | {"torch"}


def imported_distributions() -> dict[str, set[str]]:
    """The installed distributions that book/*.md code cells and code/mlbook import."""
    import sys

    provided = metadata.packages_distributions()
    statement = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)
    found: dict[str, set[str]] = {}
    for path in [*(ROOT / "code" / "mlbook").glob("*.py"), *(ROOT / "book").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".md":
            text = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S))
        for module in statement.findall(text):
            if module in sys.stdlib_module_names or module in {"mlbook", "__future__"}:
                continue
            assert module in provided, f"{path.name} imports {module}, which is not installed"
            for dist in provided[module]:
                found.setdefault(dist.lower(), set()).add(path.name)
    return found


def test_every_import_is_a_listed_requirement():
    """Finding 1 (round 2): nothing imports a package that requirements.txt leaves out.

    torchvision was once listed though nothing imported it; the convolutional chapter imports
    it now, and an import of any unlisted package fails here.
    """
    required = set(requirement_names(ROOT / "requirements.txt"))
    imported = imported_distributions()
    assert {"torch", "numpy", "matplotlib", "myst-nb"} <= set(imported), imported
    unlisted = {dist: files for dist, files in imported.items() if dist not in required}
    assert not unlisted, f"imported but not in requirements.txt: {unlisted}"
    # torchvision must be the release built for the pinned torch, installed beside it.
    assert "torchvision" in required and "torchvision" in LEARNER_PACKAGES
    # mlbook.setup imports packaging: a learner, who installs only torch and the package,
    # gets it through a learner package's own requirements.
    pulled_in = {
        Requirement(text).name.lower()
        for name in LEARNER_PACKAGES
        for text in metadata.requires(name) or []
        if Requirement(text).marker is None
    }
    module_imports = {d for d, files in imported.items() if files & {"setup.py"}}
    assert module_imports - {"torch"} <= set(LEARNER_PACKAGES) | pulled_in, module_imports


def test_the_package_refuses_the_pythons_the_book_does_not_support():
    """F5: pip must stop on a Python that `problems` would reject, not install old numpy."""
    project = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text(encoding="utf-8"))
    declared = SpecifierSet(project["project"]["requires-python"])
    oldest = ".".join(map(str, MINIMUM_PYTHON))
    older = f"{MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1] - 1}.0"
    assert declared.contains(f"{oldest}.0") and not declared.contains(older), declared


def test_install_commands_in_the_chapter_use_the_pinned_torch():
    required = requirement_names(ROOT / "requirements.txt")
    pin = str(required["torch"].specifier).removeprefix("==")
    installs = re.findall(r"pip install ([^\n`]*)", CHAPTER)
    learner = [line for line in installs if "torch==" in line]
    assert learner, "the chapter shows no torch install command"
    for line in learner:
        assert f"torch=={pin}" in line, f"{line!r}: requirements.txt pins torch=={pin}"
    for version in re.findall(r"\btorch==([\w.]+)", CHAPTER):
        assert version == pin, f"the chapter names torch=={version}, requirements.txt pins {pin}"
    # torch and torchvision are installed together, from the same index, in matching releases.
    vision = str(required["torchvision"].specifier).removeprefix("==")
    for line in learner:
        assert f"torchvision=={vision}" in line, f"{line!r}: install torchvision=={vision} with it"
    assert set(re.findall(r"\btorchvision==([\w.]+)", CHAPTER)) == {vision}


def test_python_range_matches_the_installed_metadata():
    oldest, newest = python_range()
    assert oldest == MINIMUM_PYTHON
    # Independently: the tightest lower bound among the learner packages' Requires-Python.
    bounds = []
    for name in LEARNER_PACKAGES:
        for spec in SpecifierSet(metadata.metadata(name).get("Requires-Python") or ""):
            if spec.operator == ">=":
                bounds.append(tuple(int(p) for p in spec.version.split(".")[:2]))
    assert max(bounds) == oldest
    assert newest >= (3, 13), "the chapter says 3.12 and 3.13 are accepted by the pinned packages"
    assert tuple(int(p) for p in platform.python_version_tuple()[:2]) >= oldest


def test_python_range_rejects_what_it_cannot_read():
    with pytest.raises(ValueError, match="not installed"):
        python_range(["surely-not-an-installed-package"])
    with pytest.raises(ValueError, match="empty"):
        python_range([])


def test_the_chapter_runs_no_python_under_a_shell_prompt():
    """S10: shell blocks hold commands only; Python goes into `python -c` or a Python block."""
    blocks = re.findall(r"^ *```(sh|powershell|bat|text)\n(.*?)^ *```", CHAPTER, re.S | re.M)
    assert blocks
    python_words = re.compile(r"^\s*(from \w+ import|import \w+$|print\()", re.M)
    for language, body in blocks:
        assert not python_words.search(body), f"Python in a {language} block:\n{body}"


def test_the_chapter_writes_converted_notebooks_outside_book():
    """S11: a notebook written into book/ would be a second source for one document."""
    for command in re.findall(r"jupytext --to ipynb[^\n`]*", CHAPTER):
        target = re.search(r"(?:-o|--output) (\S+)", command)
        assert target and not target.group(1).startswith("book"), command


def test_the_chapters_jupytext_command_runs_as_printed(tmp_path):
    """F2: the exact command from the page, run from a copy of the repository's layout."""
    import shutil
    import subprocess
    import sys

    (command,) = re.findall(r"^ *(jupytext --to ipynb[^\n`]*)$", CHAPTER, re.M)
    (tmp_path / "book").mkdir()
    shutil.copy(ROOT / "book" / "linear_regression.md", tmp_path / "book")
    jupytext = Path(sys.executable).parent / "jupytext"
    args = command.split()
    subprocess.run([str(jupytext), *args[1:]], cwd=tmp_path, check=True, capture_output=True)
    written = tmp_path / re.search(r"(?:-o|--output) (\S+)", command).group(1)
    assert json.loads(written.read_text(encoding="utf-8"))["cells"]
