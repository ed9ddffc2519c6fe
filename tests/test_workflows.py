"""The GitHub workflows: valid for actionlint, least privilege, and calling the Makefile."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str:
    path = Path(sys.executable).parent / "actionlint"
    found = str(path) if path.exists() else shutil.which("actionlint")
    assert found, "actionlint is not installed (it comes with requirements.txt)"
    return found


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_there_are_ci_and_deploy_workflows():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml"}


def test_actionlint_accepts_every_workflow():
    result = subprocess.run([actionlint(), "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_checks(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n")
    result = subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True, text=True)
    assert result.returncode != 0


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_pinned_actions(path):
    data = load(path)
    top = data.get("permissions")
    assert top is not None or all("permissions" in job for job in data["jobs"].values()), "permissions must be explicit"
    assert top in (None, {"contents": "read"}, {}), f"top-level permissions too wide: {top}"
    assert "pull_request_target" not in data["on"]
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            if "uses" in step:
                assert "@" in step["uses"], f"{step['uses']} is not pinned to a version"


def test_ci_runs_make_test_and_deploy_publishes_make_book():
    ci = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert {"pull_request", "push"} <= set(ci["on"])
    assert any(step.get("run", "").strip() == "make test" for step in ci["jobs"]["test"]["steps"])
    deploy = load(ROOT / ".github" / "workflows" / "deploy.yml")
    build_steps = deploy["jobs"]["build"]["steps"]
    assert any(step.get("run") == "make book" for step in build_steps)
    assert any(step.get("with", {}).get("path") == "_build/html" for step in build_steps)
    assert deploy["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["on"]["push"]["branches"] == ["main"]


def test_ci_script_installs_chromium_and_calls_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install" in script and "chromium" in script
    assert script.strip().splitlines()[-1] == "make test"
