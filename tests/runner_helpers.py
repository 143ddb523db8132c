"""Run ``python -m tenantmove`` as a real subprocess against the session's sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tenantmove.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, sb: Sandbox | None, **changes: Any) -> Path:
    data = yaml.safe_load((ROOT / "parameters" / "demo.yaml").read_text())
    data["sandbox_dir"] = str(sb.state_dir) if sb else str(tmp_path / "no-sandbox-here")
    data["state_dir"] = str(tmp_path / "state")
    if sb is not None:  # as the demo: each app has a certificate for SharePoint's REST API
        for side in ("source", "target"):
            data[side]["certificate_file"] = sb.endpoints["app_certificates"][data[side]["client_id"]]
    data["approval"] = {"mode": "none"}  # the demo's second person is its own stand-in; a test that wants one asks
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        elif value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def tenantmove(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "tenantmove", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def only_run(runs: Path) -> Path:
    folders = [p for p in runs.iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def run_json(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def approve_codes(sb: Sandbox, stop: threading.Event, approved: list[str]) -> None:
    """A person at the sign-in page: every pending device code is entered as its tenant's admin."""
    admins = {t["id"]: f"admin@{t['initial_domain']}" for t in sb.endpoints["tenants"]}
    while not stop.wait(0.2):
        for code in sb.admin("GET", "device/pending"):
            sb.admin("POST", "device/approve", json={"user_code": code["user_code"], "user": admins[code["tenant_id"]]})
            approved.append(code["user_code"])


@contextmanager
def people_signing_in(sb: Sandbox) -> Iterator[list[str]]:
    """While inside: device codes are approved as they appear (the codes approved, in order)."""
    stop, approved = threading.Event(), []
    person = threading.Thread(target=approve_codes, args=(sb, stop, approved), daemon=True)
    person.start()
    try:
        yield approved
    finally:
        stop.set()
        person.join(5)
