"""The admin's path: `prepare`, then "Run all" in a real kernel with interactive=True and device-code
sign-in (the widget shows the code; a thread here plays the admin who enters it), then `seal`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from nbclient import NotebookClient

from tenantmove.sandbox import Sandbox

from .conftest import SOURCE_APP, TARGET_APP
from .runner_helpers import ROOT, approve_codes, only_run, run_json, tenantmove, write_params

pytestmark = pytest.mark.notebook
CUTOVER_SCOPES = ["User.Read", "Directory.Read.All", "Notes.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All",
                  "GroupMember.ReadWrite.All", "Domain.ReadWrite.All", "Application.ReadWrite.All",
                  "MailboxSettings.Read", "Place.Read.All",  # phase 30 reads the shared mailboxes and rooms back
                  "Mail.Send", "Mail.Read",  # phase 10 sends the announcement (announce_from), once
                  "Device.Read.All", "DeviceManagementManagedDevices.Read.All",  # phase 00 plans the devices
                  "DeviceManagementServiceConfig.Read.All",
                  "Reports.Read.All"]  # phase 00's forecast

def test_prepared_run_stepped_through_with_device_code_widgets_then_sealed(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, sandbox, source={"auth": "device_code", "secret_env": None},
                          target={"auth": "device_code", "secret_env": None})
    prepared = tenantmove("prepare", str(params), "--phases", "00", "--runs-dir", str(runs), cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    run_dir = only_run(runs)
    notebook = run_dir / "00_prepare.ipynb"
    stop, approved = threading.Event(), []
    admin = threading.Thread(target=approve_codes, args=(sandbox, stop, approved), daemon=True)
    admin.start()
    # the admin consented the delegated scopes the cutover needs (phase 00 judges a device-code sign-in by them)
    apps = {a: sandbox.admin("PATCH", f"apps/{a}", json={}) for a in (SOURCE_APP, TARGET_APP)}
    for app in apps:
        sandbox.admin("PATCH", f"apps/{app}", json={"delegated": CUTOVER_SCOPES})
    try:  # the admin's "Run all" on the prepared notebook, in a real kernel
        nb = nbformat.read(str(notebook), as_version=4)
        NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}).execute()
        nbformat.write(nb, str(notebook))
    finally:
        stop.set()
        admin.join()
        for app, before in apps.items():
            sandbox.admin("PATCH", f"apps/{app}", json={"delegated": before["delegated"]})
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

    sealed = tenantmove("seal", str(run_dir), cwd=tmp_path)
    assert sealed.returncode == 0, sealed.stderr
    record = run_json(run_dir)
    assert record["status"] == "completed" and record["mode"] == "prepared"
    assert record["phases"][0]["status"] == "completed" and record["phases"][0]["summary"]["users"] >= 21
    assert (run_dir / "html" / "00_prepare.html").is_file()
    assert tenantmove("verify", str(run_dir), cwd=tmp_path).returncode == 0


def test_a_notebook_run_by_hand_starts_its_own_record(sandbox: Sandbox, tmp_path: Path) -> None:
    run_dir = tmp_path / "adhoc"
    run_dir.mkdir()
    pm.execute_notebook(str(ROOT / "notebooks" / "00_prepare.ipynb"), str(run_dir / "00_prepare.ipynb"),
                        parameters={"sandbox_dir": str(sandbox.state_dir), "state_dir": str(tmp_path / "state"),
                                    "run_dir": str(run_dir)},
                        kernel_name="python3", cwd=str(run_dir), progress_bar=False)
    assert run_json(run_dir)["mode"] == "interactive (by hand)"
    assert tenantmove("seal", str(run_dir), cwd=tmp_path).returncode == 0
    record = run_json(run_dir)
    assert record["status"] == "completed" and record["phases"][0]["phase"] == "00_prepare"
    assert (run_dir / "index.html").is_file() and (run_dir / "MANIFEST.sha256").is_file()
