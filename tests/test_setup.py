"""Tests for mlbook.setup."""

import json
import platform

import torch

from mlbook.setup import environment_report, format_report, main, package_version, problems


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
    assert any("older than 3.10" in p for p in found)
    assert problems(environment_report()) == []


def test_format_lines_up_names():
    text = format_report({"a": "1", "longer name": "2"})
    assert text.splitlines() == ["a            1", "longer name  2"]


def test_main_prints_json(capsys):
    assert main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out)["torch"] == torch.__version__
