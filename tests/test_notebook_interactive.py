"""The admin's path: 00_prepare in a real kernel with interactive=True and device-code sign-in.
The sign-in widget shows the code; a thread here plays the admin who enters it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import nbformat
import papermill as pm

from tenantmove.sandbox import Sandbox

from .conftest import SOURCE_APP, TARGET_APP
from .runner_helpers import ROOT


def approve_codes(sb: Sandbox, stop: threading.Event, approved: list[str]) -> None:
    admins = {t["id"]: f"admin@{t['initial_domain']}" for t in sb.endpoints["tenants"]}
    while not stop.wait(0.2):
        for code in sb.admin("GET", "device/pending"):
            sb.admin("POST", "device/approve", json={"user_code": code["user_code"], "user": admins[code["tenant_id"]]})
            approved.append(code["user_code"])


def test_interactive_run_with_device_code_widgets(sandbox: Sandbox, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stop, approved = threading.Event(), []
    admin = threading.Thread(target=approve_codes, args=(sandbox, stop, approved), daemon=True)
    admin.start()
    try:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "00_prepare.ipynb"), str(run_dir / "00_prepare.ipynb"),
            parameters={"sandbox_dir": str(sandbox.state_dir), "state_dir": str(tmp_path / "state"),
                        "run_dir": str(run_dir), "run_id": "interactive-test", "interactive": True,
                        "source": {"tenant": "contoso.onmicrosoft.com", "client_id": SOURCE_APP, "auth": "device_code"},
                        "target": {"tenant": "contosonew.onmicrosoft.com", "client_id": TARGET_APP,
                                   "auth": "device_code"}},
            kernel_name="python3", cwd=str(run_dir), progress_bar=False)
    finally:
        stop.set()
        admin.join()
    assert len(approved) == 2
    nb = nbformat.read(str(run_dir / "00_prepare.ipynb"), as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widgets) == 2  # one sign-in widget per tenant
    text = json.dumps(outputs)
    assert all(code in text for code in approved)  # the code was shown (and printed for the record)
    assert "admin@contoso.onmicrosoft.com" in text and "delegated" in text
    result = json.loads((run_dir / "phases" / "00_prepare.json").read_text())
    assert result["status"] == "completed"
    assert result["summary"]["verdict"] in ("ready", "ready with warnings")
