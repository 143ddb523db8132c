"""The phase notebooks: committed clean, parameters in step with the library, and executed by
papermill against the sandbox into a complete, tamper-evident, secret-free audit folder."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tenantmove.runbook.notebook_cells import sync
from tenantmove.runbook.params import SPEC, specs_for
from tenantmove.sandbox import Sandbox

from .conftest import CANARY_SOURCE, CANARY_TARGET, grep_tree
from .runner_helpers import ROOT, only_run, run_json, tenantmove, write_params

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.")


def test_there_are_phase_notebooks() -> None:
    assert [p.stem for p in NOTEBOOKS][:1] == ["00_prepare"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


def test_parameters_cells_are_generated_from_the_spec() -> None:
    assert sync(NOTEBOOKS, write=False) == [], "run `python -m tenantmove notebooks` (make notebooks)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_matches_the_spec(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    namespace: dict = {}
    exec(cells[0].source, namespace)  # noqa: S102 - our own committed cell
    own = specs_for(path.stem)
    assert {s.name: namespace[s.name] for s in own} == {s.name: s.default for s in own}
    assert not {s.name for s in SPEC} - {s.name for s in own} & set(namespace)  # only its own and the common ones
    assert {s.name for s in own} < {s.name for s in SPEC}  # each notebook leaves some out
    assert namespace["cloud"] == "sandbox"  # opened by accident, it touches nothing real
    for line in cells[0].source.splitlines():
        if not line.startswith("#"):
            assert "  # " in line, f"parameter without a help comment: {line}"


@pytest.mark.notebook
def test_unattended_run_writes_a_complete_audit_folder(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("run", str(write_params(tmp_path, sandbox, operator="alice@contoso")), "--phases", "00",
                      "--runs-dir", str(runs), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = only_run(runs)
    record = run_json(run_dir)
    assert record["status"] == "completed" and record["mode"] == "unattended"
    assert record["operator"] == "alice@contoso"
    assert record["parameters"]["interactive"] is False
    assert record["tenants"]["source"]["tenant_id"] == sandbox.tenant("old")["id"]
    assert record["tenants"]["target"]["tenant_id"] == sandbox.tenant("new")["id"]
    assert record["library"]["version"] and record["library"]["git_commit"]
    phase = record["phases"][0]
    assert phase["phase"] == "00_prepare" and phase["status"] == "completed" and phase["duration_s"] > 0
    assert phase["summary"]["verdict"] == "ready" and phase["summary"]["users"] >= 21

    executed = nbformat.read(str(run_dir / "00_prepare.ipynb"), as_version=4)
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert record["run_id"] in text and "alice@contoso" in text  # the header cell
    assert "00_prepare completed" in text  # the complete cell
    assert "Teams' protected APIs (phase 65)" in text and "may read their messages" in text  # readiness
    assert "Readiness verdict: ready" in text

    assert (run_dir / "html" / "00_prepare.html").is_file()
    index = (run_dir / "index.html").read_text()
    assert "html/00_prepare.html" in index and "completed" in index
    html = (run_dir / "html" / "00_prepare.html").read_text()
    assert "phase = Phase.start" not in html  # code hidden for auditors, outputs shown
    assert "Readiness verdict" in html
    for name in ("users.csv", "groups.csv", "licences.csv", "domains.csv", "memberships.csv"):
        assert (run_dir / "00_prepare" / "inventory-source" / name).is_file()
    readiness = json.loads((tmp_path / "state" / "readiness.json").read_text())
    assert readiness["verdict"] == "ready" and readiness["run_id"] == record["run_id"]

    # tamper-evident: the manifest checks, and a changed byte is found
    assert tenantmove("verify", str(run_dir), cwd=tmp_path).returncode == 0
    # an auditor opens the run's ledger with sqlite3, queries it and closes it: it stays one file, still intact;
    # and verify itself changes nothing, here or in the state folder
    db = sqlite3.connect(run_dir / "ledger.sqlite")
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] >= 0
    db.close()
    assert sorted(p.name for p in run_dir.glob("ledger.sqlite*")) == ["ledger.sqlite"]
    stamps = {p: p.stat().st_mtime_ns for folder in (run_dir, tmp_path / "state") for p in folder.rglob("*")}
    checked = tenantmove("verify", str(run_dir), cwd=tmp_path)
    assert checked.returncode == 0 and checked.stdout.strip().endswith("intact"), checked.stdout
    assert stamps == {p: p.stat().st_mtime_ns for folder in (run_dir, tmp_path / "state") for p in folder.rglob("*")}
    # the dossier on another machine: the run folder and a copy of the state folder; links are relative
    elsewhere = tmp_path / "auditor"
    shutil.copytree(run_dir, elsewhere / "runs" / run_dir.name)
    shutil.copytree(tmp_path / "state", elsewhere / "state")
    copied = tenantmove("verify", str(elsewhere / "runs" / run_dir.name), "--state", str(elsewhere / "state"),
                        cwd=tmp_path)
    assert copied.returncode == 0 and "intact" in copied.stdout, copied.stdout
    for page in (run_dir / "index.html", tmp_path / "state" / "migration-index.html"):
        links = re.findall(r"href='([^']*)'", page.read_text())
        assert links and not [link for link in links if link.startswith(("/", "file:"))], links
    (run_dir / "00_prepare" / "permissions.csv").write_text("edited afterwards\n")
    tampered = tenantmove("verify", str(run_dir), cwd=tmp_path)
    assert tampered.returncode == 1 and "changed: 00_prepare/permissions.csv" in tampered.stdout

    # a file changed (or removed) together with its manifest, or an edited code cell re-hashed: the manifest no
    # longer matches the digest chained into the migration's state when the run was sealed
    assert record["run_id"] in (tmp_path / "state" / "migration-index.html").read_text()
    digest = next(line for line in proc.stdout.splitlines() if line.startswith("manifest SHA-256"))
    assert len(digest.rsplit(" ", 1)[1]) == 64  # printed for the change ticket
    from tenantmove.runbook import audit

    audit.write_manifest(run_dir)  # the edited file re-hashed into a rewritten manifest
    rewritten = tenantmove("verify", str(run_dir), cwd=tmp_path)
    assert rewritten.returncode == 1 and "rewritten together with its manifest" in rewritten.stdout
    nb = json.loads((run_dir / "00_prepare.ipynb").read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code" and "phase = Phase.start" in "".join(c["source"]))
    code["source"] = "".join(code["source"]) + "\nprint('edited by hand')"
    (run_dir / "00_prepare.ipynb").write_text(json.dumps(nb))
    audit.write_manifest(run_dir)
    edited = tenantmove("verify", str(run_dir), cwd=tmp_path)
    assert edited.returncode == 1 and f"warning: 00_prepare.ipynb: cell {code['id']} differs" in edited.stdout
    resealed = tenantmove("seal", str(run_dir), cwd=tmp_path)  # a completed run is not sealed again
    assert resealed.returncode == 2 and "sealed as completed by alice@contoso" in resealed.stderr

    # nothing secret anywhere: not the canaries, not a token
    for folder in (run_dir, tmp_path / "state"):
        assert not grep_tree(folder, [CANARY_SOURCE, CANARY_TARGET])
        assert not [p for p in folder.rglob("*") if p.is_file() and JWT.search(p.read_bytes())]
    assert CANARY_SOURCE not in proc.stdout + proc.stderr and CANARY_TARGET not in proc.stdout + proc.stderr


@pytest.mark.notebook
def test_a_failing_phase_stops_with_phase_cell_and_hint(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, sandbox, domain="northwind.example")  # a domain of no tenant of the sandbox
    proc = tenantmove("run", str(params), "--phases", "00", "--runs-dir", str(runs), cwd=tmp_path)
    assert proc.returncode == 1
    line = [x for x in proc.stderr.splitlines() if x.startswith("tenantmove:")][-1]
    assert "phase 00_prepare, cell" in line and "NotReady" in line and "northwind.example" in line
    run_dir = only_run(runs)
    record = run_json(run_dir)
    assert record["status"] == "failed"
    failed = record["phases"][0]
    assert failed["status"] == "failed" and failed["error"]["ename"] == "NotReady" and failed["error"]["cell"]
    assert failed["summary"]["verdict"] == "not ready"  # the summary was recorded before the stop
    executed = nbformat.read(str(run_dir / "00_prepare.ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(errors) == 1
    shown = "\n".join(errors[0].traceback)
    assert "HINT:" in shown and "Traceback" not in shown and "File \"" not in shown
    assert (run_dir / "index.html").is_file() and (run_dir / "MANIFEST.sha256").is_file()
    readiness = json.loads((tmp_path / "state" / "readiness.json").read_text())
    assert readiness["verdict"] == "not ready"

    # fix the parameter, resume the same run folder: the phase runs again and completes
    fixed = write_params(tmp_path, sandbox, operator="bob@contoso")  # another admin resumes it
    resumed = tenantmove("run", str(fixed), "--phases", "00", "--resume", str(run_dir), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    record = run_json(run_dir)
    assert record["status"] == "completed" and record["resumed"]
    assert record["phases"][0]["status"] == "completed" and "error" not in record["phases"][0]
    # every attempt stays in the record, with who ran it; the index names both admins and both attempts
    attempts = record["phases"][0]["attempts"]
    assert [a["status"] for a in attempts] == ["failed", "completed"] and attempts[1]["operator"] == "bob@contoso"
    kept = run_dir / attempts[0]["notebook"]
    assert kept.name == "00_prepare.attempt-1.ipynb" and "NotReady" in kept.read_text()
    assert len(record["operators"]) == 2 and record["operators"][1] == "bob@contoso"
    index = (run_dir / "index.html").read_text()
    assert "bob@contoso" in index and "00_prepare.attempt-1.ipynb" in index and "Integrity" in index
    verified = tenantmove("verify", str(run_dir), cwd=tmp_path)
    assert verified.returncode == 0 and "failed by" in verified.stdout  # sealed twice (failed, then completed)
    again = tenantmove("run", str(fixed), "--phases", "00", "--resume", str(run_dir), cwd=tmp_path)
    assert again.returncode == 0 and "completed in an earlier attempt, skipped" in again.stdout


@pytest.mark.notebook
def test_prepare_writes_notebooks_for_an_admin(sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = tenantmove("prepare", str(write_params(tmp_path, sandbox)), "--runs-dir", str(runs), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = only_run(runs)
    assert run_json(run_dir)["status"] == "prepared"
    nb = nbformat.read(str(run_dir / "00_prepare.ipynb"), as_version=4)
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "interactive = True" in injected.source and str(run_dir.resolve()) in injected.source
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert "seal" in proc.stdout

    # the admin steps through it by hand, changing one code cell and running another twice; sealing keeps it all,
    # and the index tells the auditor so (the run is not refused: it is what happened, and it is on record)
    edited = next(c for c in nb.cells if c.cell_type == "code" and "inventory.show(old_inventory" in c.source)
    edited.source += "\nprint('looked at by hand')"
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}).execute()
    twice = next(c for c in nb.cells if c.cell_type == "code" and "new = phase.sign_in" in c.source)
    twice.execution_count = max(c.execution_count or 0 for c in nb.cells if c.cell_type == "code") + 1
    nbformat.write(nb, str(run_dir / "00_prepare.ipynb"))
    sealed = tenantmove("seal", str(run_dir), cwd=tmp_path)
    assert sealed.returncode == 0, sealed.stderr[-2000:]
    index = (run_dir / "index.html").read_text()
    integrity = index[index.index("<h2>Integrity</h2>"):]
    assert f"cell {edited.id} differs from the committed notebook (edited by hand)" in integrity
    assert "cells ran out of order" in integrity and "every notebook&#x27;s code is" not in integrity
    checked = tenantmove("verify", str(run_dir), cwd=tmp_path)
    assert checked.returncode == 0 and f"warning: 00_prepare.ipynb: cell {edited.id} differs" in checked.stdout


@pytest.mark.notebook
def test_missing_permission_stops_at_the_permission_table(sandbox: Sandbox, tmp_path: Path) -> None:
    from .conftest import SOURCE_APP

    granted = sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={})["roles"]
    sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={"roles": ["Organization.Read.All", "Domain.Read.All"]})
    try:
        runs = tmp_path / "runs"
        proc = tenantmove("run", str(write_params(tmp_path, sandbox)), "--phases", "00", "--runs-dir", str(runs),
                          cwd=tmp_path)
    finally:
        sandbox.admin("PATCH", f"apps/{SOURCE_APP}", json={"roles": granted})
    assert proc.returncode == 1
    line = [x for x in proc.stderr.splitlines() if x.startswith("tenantmove:")][-1]
    assert "PermissionMissing" in line and "User.Read.All" in line and "GroupMember.Read.All" in line
    run_dir = only_run(runs)
    executed = nbformat.read(str(run_dir / "00_prepare.ipynb"), as_version=4)
    failing = [c for c in executed.cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert len(failing) == 1 and "permissions.require" in failing[0].source  # stopped there, not at a 403 later
    assert not (run_dir / "00_prepare" / "inventory-source").exists()


@pytest.mark.notebook
@pytest.mark.parametrize("args, needles", [
    (["-p", "domian", "contoso.example"], ["domian: unknown parameter", "did you mean 'domain'?"]),
    (["-p", "dry_run", "maybe"], ["dry_run: must be true or false", "HINT"]),
])
def test_a_notebook_run_by_hand_with_papermill_names_a_bad_parameter(sandbox: Sandbox, tmp_path: Path,
                                                                     args: list[str], needles: list[str]) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "00_prepare.ipynb"),
                           str(tmp_path / "out.ipynb"), "-p", "sandbox_dir", str(sandbox.state_dir), *args],
                          cwd=tmp_path, env=dict(os.environ, TENANTMOVE_HOME=str(tmp_path / "home")),
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode != 0
    executed = nbformat.read(str(tmp_path / "out.ipynb"), as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    shown = "\n".join(errors[0].traceback)
    assert all(n in shown for n in needles) and "Traceback" not in shown and 'File "' not in shown


@pytest.mark.notebook
def test_an_unattended_device_code_sign_in_reaches_the_console_at_once(sandbox: Sandbox, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    params = write_params(tmp_path, sandbox, source={"auth": "device_code", "secret_env": None})
    proc = subprocess.Popen([sys.executable, "-m", "tenantmove", "run", str(params), "--phases", "00", "--runs-dir",
                             str(tmp_path / "runs")], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    started, line = time.monotonic(), ""
    try:
        assert proc.stderr is not None
        while "enter the code" not in line and proc.poll() is None and time.monotonic() - started < 60:
            line = proc.stderr.readline()
        waited = time.monotonic() - started
        assert "enter the code" in line and "devicelogin" in line, line
        assert waited < 30, f"the person watching saw the code only after {waited:.0f} s"
        code = line.split("enter the code ", 1)[1].split()[0]
        source = next(t for t in sandbox.endpoints["tenants"] if t["initial_domain"] == "contoso.onmicrosoft.com")
        sandbox.admin("POST", "device/approve", json={"user_code": code, "user": "admin@contoso.onmicrosoft.com"})
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    record = run_json(only_run(tmp_path / "runs"))  # signed in with that code (the verdict is not this test's)
    assert record["tenants"]["source"]["tenant_id"] == source["id"]
