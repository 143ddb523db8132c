"""The project keeps its own promises: docs and parameter files in step with the code."""

from __future__ import annotations

import re
import tomllib

import yaml

from tenantmove.runbook.params import SPEC, validate
from tenantmove.runbook.permissions import markdown

from .conftest import ROOT


def test_readme_shows_the_two_commands_and_current_permission_tables() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme and "make lab" in readme
    assert markdown() in readme, "README permission tables are stale: paste `python -m tenantmove permissions`"


def test_example_parameters_cover_every_key_and_validate() -> None:
    data = yaml.safe_load((ROOT / "parameters" / "example.yaml").read_text())
    runner_set = {"run_dir", "run_id", "interactive"}
    assert set(data) == {s.name for s in SPEC} - runner_set
    data["source"]["auth"] = "client_secret"  # the example's certificate and key paths do not exist here
    data["source"].pop("certificate_file")
    data["dns"]["provider"] = "manual"
    params = validate(data, origin="example.yaml", check_environment=False)
    assert params.cloud == "global"


def test_demo_parameters_target_the_sandbox() -> None:
    data = yaml.safe_load((ROOT / "parameters" / "demo.yaml").read_text())
    assert data["cloud"] == "sandbox"  # the demo applies its plans, but only to the sandbox
    assert data["confirm"] == data["domain"]


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]

    def name(spec: str) -> str:
        return re.split(r"[<>=!\[ ]", spec, maxsplit=1)[0].lower().replace("_", "-")

    conda = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    pip = [d for entry in conda if isinstance(entry, dict) for d in entry.get("pip", [])]
    listed = {name(d) for d in conda if isinstance(d, str)} | {name(d) for d in pip}
    assert {name(d) for d in wanted} <= listed


def test_generated_and_private_folders_are_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for folder in ("runs/", ".venv/", "state/", ".sandbox/"):
        assert folder in ignored
