"""The GitHub set-up: workflows valid for actionlint, least privilege and calling the Makefile; the
execution cache and failure reports in CI; the weekly link check; Dependabot; issue and PR templates."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
EXECUTION_CACHE = "_build/.jupyter_cache"


def actionlint() -> str:
    path = Path(sys.executable).parent / "actionlint"
    found = str(path) if path.exists() else shutil.which("actionlint")
    assert found, "actionlint is not installed (it comes with requirements.txt)"
    return found


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_there_are_ci_deploy_and_link_check_workflows():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "deploy.yml", "links.yml"}


def test_actionlint_accepts_every_workflow():
    command = [actionlint(), "-no-color", *map(str, WORKFLOWS)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_checks(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
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


def steps_of(workflow: str, job: str) -> list[dict]:
    return load(GITHUB / "workflows" / workflow)["jobs"][job]["steps"]


def index_of(steps: list[dict], predicate) -> int:
    found = [i for i, step in enumerate(steps) if predicate(step)]
    assert found, "no such step"
    return found[0]


def cache_step(steps: list[dict]) -> dict:
    return steps[index_of(steps, lambda s: s.get("with", {}).get("path") == EXECUTION_CACHE)]


@pytest.mark.parametrize("workflow, job", [("ci.yml", "test"), ("deploy.yml", "build")])
def test_execution_cache_is_restored_before_the_build(workflow, job):
    steps = steps_of(workflow, job)
    cache = cache_step(steps)
    assert cache["uses"] == "actions/cache@v4"
    key = cache["with"]["key"]
    assert "hashFiles(" in key and "'requirements.txt'" in key and "'code/**'" in key and "'book/**'" in key
    prefix = key.split("${{ hashFiles(")[0]
    assert prefix and cache["with"]["restore-keys"].strip() == prefix, "restore-keys: the key without its hash"
    build = index_of(steps, lambda s: s.get("run") == "make book")
    assert steps.index(cache) < build


def test_ci_and_deploy_use_one_cache_key():
    assert cache_step(steps_of("ci.yml", "test"))["with"] == cache_step(steps_of("deploy.yml", "build"))["with"]


def test_ci_builds_then_tests_and_uploads_the_reports_when_it_fails():
    steps = steps_of("ci.yml", "test")
    chromium = index_of(steps, lambda s: "chromium" in s.get("run", ""))
    build = index_of(steps, lambda s: s.get("run") == "make book")
    test = index_of(steps, lambda s: s.get("run", "").strip() == "make test")
    upload = index_of(steps, lambda s: s.get("uses", "").startswith("actions/upload-artifact@"))
    assert chromium < build < test < upload
    assert steps[upload]["uses"] == "actions/upload-artifact@v4"
    assert steps[upload]["if"] == "failure()"
    assert steps[upload]["with"]["path"] == "_build/html/reports"
    assert steps[upload]["with"]["if-no-files-found"] == "ignore"


def test_link_check_runs_weekly_and_reports_failures_in_an_issue():
    links = load(GITHUB / "workflows" / "links.yml")
    assert set(links["on"]) == {"schedule", "workflow_dispatch"}
    (schedule,) = links["on"]["schedule"]
    minute, hour, day_of_month, month, day_of_week = schedule["cron"].split()
    assert minute.isdigit() and hour.isdigit() and day_of_month == "*" and month == "*"
    assert day_of_week.isdigit() and 0 <= int(day_of_week) <= 6, "once a week"
    assert links["permissions"] == {"contents": "read"}
    (job,) = links["jobs"].values()
    assert job["permissions"] == {"contents": "read", "issues": "write"}
    steps = job["steps"]
    venv = index_of(steps, lambda s: s.get("run") == "make venv")
    check = index_of(steps, lambda s: s.get("run") == ".venv/bin/jupyter-book build . --builder linkcheck")
    report = index_of(steps, lambda s: "gh issue create" in s.get("run", ""))
    assert venv < check < report
    assert "failure()" in steps[report]["if"]
    assert steps[report]["env"]["GH_TOKEN"] == "${{ github.token }}"
    script = steps[report]["run"]
    assert "_build/html/output.txt" in script
    assert "gh issue list" in script and "--search" in script, "no second issue while one is open"
    assert "github.run_id" in str(steps[report]["env"]), "the issue links to the failed run"


def test_dependabot_covers_pip_and_actions_and_never_proposes_jupyter_book_2():
    config = yaml.safe_load((GITHUB / "dependabot.yml").read_text())
    assert config["version"] == 2
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert set(updates) >= {"pip", "github-actions"}
    for update in updates.values():
        assert update["directory"] == "/" and update["schedule"]["interval"] == "weekly"
    ignored = {rule["dependency-name"]: rule for rule in updates["pip"]["ignore"]}
    assert ignored["jupyter-book"]["versions"] == [">=2"]
    # torch and torchvision are released in pairs: one pull request moves both.
    group = updates["pip"]["groups"]["pytorch"]
    assert set(group["patterns"]) == {"torch", "torchvision"}


def test_pull_request_template_has_the_checklist():
    text = (GITHUB / "PULL_REQUEST_TEMPLATE.md").read_text(encoding="utf-8")
    assert "- [ ] `make test` passes" in text
    assert "glued" in text and "alt text" in text


ISSUE_FORMS = {
    "erratum.yml": ["Page", "What is wrong"],
    "code-failure.yml": ["Chapter or module", "Command you ran", "Full error output", "Versions"],
}


@pytest.mark.parametrize("name", ISSUE_FORMS)
def test_issue_forms_are_valid_and_ask_for_what_we_need(name):
    form = yaml.safe_load((GITHUB / "ISSUE_TEMPLATE" / name).read_text(encoding="utf-8"))
    assert {"name", "description", "body"} <= set(form)
    kinds = {"markdown", "input", "textarea", "dropdown", "checkboxes"}
    ids = [element["id"] for element in form["body"] if "id" in element]
    assert len(ids) == len(set(ids)), "ids must be unique"
    required = []
    for element in form["body"]:
        assert element["type"] in kinds
        if element["type"] == "markdown":
            assert element["attributes"]["value"].strip()
            continue
        assert element["attributes"]["label"].strip() and element["id"]
        if element.get("validations", {}).get("required"):
            required.append(element["attributes"]["label"])
    assert required == ISSUE_FORMS[name]


def test_code_failure_form_says_how_to_find_the_versions():
    form = yaml.safe_load((GITHUB / "ISSUE_TEMPLATE" / "code-failure.yml").read_text(encoding="utf-8"))
    versions = next(e for e in form["body"] if e.get("id") == "versions")
    text = versions["attributes"]["description"]
    assert "python -m mlbook.setup" in text
    assert all(word in text for word in ("operating system", "Python", "torch"))


def test_issue_template_config_is_valid():
    config = yaml.safe_load((GITHUB / "ISSUE_TEMPLATE" / "config.yml").read_text(encoding="utf-8"))
    assert isinstance(config["blank_issues_enabled"], bool)
    for link in config.get("contact_links", []):
        assert {"name", "url", "about"} <= set(link)


def test_link_check_ignores_the_local_preview_addresses_the_chapters_mention():
    patterns = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]["linkcheck_ignore"]
    local = set()
    for chapter in (ROOT / "book").glob("*.md"):
        local.update(re.findall(r"https?://(?:127\.0\.0\.1|localhost)[^\s)>`]*", chapter.read_text()))
    assert local, "the Setup chapter links the local preview (make serve)"
    for url in local | {"http://127.0.0.1:8000", "http://localhost:8000/index.html"}:
        assert any(re.match(p, url) for p in patterns), f"{url} would be reported broken every week"
    assert not any(re.match(p, "https://pytorch.org") for p in patterns)
