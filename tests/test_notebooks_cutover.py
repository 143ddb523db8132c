"""Phases 10-30 executed by the runner against the sandbox, beside the story of the whole migration
(``test_cutover_story``): without the typed confirmation nothing changes, a killed run resumes without duplicates,
and the cutover's other refusals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tenantmove.sandbox import Sandbox

from .conftest import make_client, vault_passwords
from .runner_helpers import ROOT, people_signing_in, run_json, tenantmove, write_params

pytestmark = pytest.mark.notebook

DOMAIN = "contoso.example"


def outputs_text(nb_path: Path) -> str:
    nb = nbformat.read(str(nb_path), as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def runs_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def test_without_the_typed_confirmation_nothing_changes(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    first = tenantmove("run", str(write_params(tmp_path, fresh_sandbox)), "--phases", "00", "--runs-dir", str(runs),
                       cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    params = write_params(tmp_path, fresh_sandbox, confirm="contoso.com")  # the wrong text
    # the runner refuses before the first phase: nothing is pre-staged, renamed or removed
    proc = tenantmove("run", str(params), "--phases", "00,10,20", "--runs-dir", str(runs), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = [x for x in proc.stderr.splitlines() if x.startswith("tenantmove:")][-1]
    assert "confirm:" in line and "'contoso.com' is not the domain name" in line and "confirm: contoso.example" in line
    _, new = make_client(fresh_sandbox, "target")
    assert len(new.get_all("users", {"$select": "id"})) == 1
    # the notebook's own gate holds too, run by hand with papermill (no runner to check first)
    by_hand = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "20_release_domain.ipynb"),
                              str(tmp_path / "20.ipynb"), "-f", str(params), "-p", "interactive", "False"],
                             cwd=tmp_path, env=dict(os.environ, TENANTMOVE_HOME=str(tmp_path / "home")),
                             capture_output=True, text=True, timeout=240, check=False)
    assert by_hand.returncode != 0 and "ConfirmationMissing" in by_hand.stderr + by_hand.stdout
    record = json.loads(next((tmp_path / "home" / "runs").glob("*/run.json")).read_text())
    assert record["status"] == "failed" and "confirm: contoso.example" in record["error"]
    _, old = make_client(fresh_sandbox, "source")
    assert DOMAIN in {d["id"] for d in old.get("domains")["value"]}
    assert old.get("users/megan.bowen@contoso.example")["userPrincipalName"] == "megan.bowen@contoso.example"
    from tenantmove.services.dnsops import Nameservers

    ns = Nameservers([(fresh_sandbox.endpoints["dns"]["host"], fresh_sandbox.endpoints["dns"]["port"])])
    assert ns.values(DOMAIN, "MX") == [{"0 contoso-example.mail.protection.outlook.com"}]


def test_dry_run_shows_the_plans_and_changes_nothing(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, fresh_sandbox, dry_run=True)
    with people_signing_in(fresh_sandbox):
        # the phases that change the directory, the domain and the settings (the content phases' dry run is the
        # engine's own, tested with it: tests/test_unit_engine.py)
        proc = tenantmove("run", str(params), "--phases", "00,10,20,30,40", "--runs-dir", str(runs), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = runs_in(runs)[0]
    text20 = outputs_text(run_dir / "20_release_domain.ipynb")
    assert "dry run: nothing was changed" in text20 and "nothing to confirm" in text20
    assert "ipywidgets" not in text20 and "Confirm" not in text20.replace("confirm", "")  # no box in a dry run
    assert "to do" in outputs_text(run_dir / "30_add_domain_and_users.ipynb")  # the engine's plan, per item
    _, new = make_client(fresh_sandbox, "target")
    assert len(new.get_all("users", {"$select": "id"})) == 1
    assert DOMAIN not in {d["id"] for d in new.get("domains")["value"]}


def test_killed_during_user_creation_resumes_without_duplicates(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    runs = tmp_path / "runs"
    params = write_params(tmp_path, sb, prestage_users=False)  # phase 30 creates every user
    first = tenantmove("run", str(params), "--phases", "00,10,20", "--runs-dir", str(runs), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    sb.set_knobs(latency_ms=120)
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "tenantmove", "run", str(params), "--phases", "30", "--runs-dir",
                             str(runs)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ledger = tmp_path / "state" / "ledger.sqlite"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=1)
            done = db.execute("SELECT COUNT(*) FROM items WHERE kind = 'user' AND state = 'done'").fetchone()[0]
            db.close()
        except sqlite3.Error:
            done = 0
        if done >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None and 3 <= done < 24, f"could not catch the run mid-way (done={done})"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(2)  # the orphaned kernel notices its parent is gone and exits
    sb.set_knobs(latency_ms=0)
    killed = runs_in(runs)[1]
    resumed = tenantmove("run", str(params), "--phases", "30", "--resume", str(killed), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, new = make_client(sb, "target")
    everyone = new.get_all("users", {"$select": "userPrincipalName,userType", "$top": "999"})
    upns = [u["userPrincipalName"].lower() for u in everyone if u.get("userType") != "Guest"]
    assert len(upns) == len(set(upns)) == 23  # the new tenant's admin and the 22 created users, each once
    guests = [u["userPrincipalName"] for u in everyone if u.get("userType") == "Guest"]
    assert len(guests) == len(set(guests)) == 2  # and the two guests, each invited once
    # every created user's temporary password is in the vault, the killed run's included
    vaulted = set(vault_passwords(tmp_path / "state" / "passwords"))
    assert vaulted == set(upns) - {"admin@contosonew.onmicrosoft.com"}
    summary = run_json(killed)["phases"][0]["summary"]
    assert summary["users done before"] >= 3 and "users failed" not in summary


def test_manual_dns_stops_after_the_wait_naming_the_record_and_the_way_back_restores_the_old_tenant(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    params = write_params(tmp_path, fresh_sandbox)
    first = tenantmove("run", str(params), "--phases", "00,10,20", "--runs-dir", str(runs), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    manual = write_params(tmp_path, fresh_sandbox, dns={"provider": "manual", "wait_seconds": 1, "poll_seconds": 0.2})
    proc = tenantmove("run", str(manual), "--phases", "30", "--runs-dir", str(runs), cwd=tmp_path)
    assert proc.returncode == 1
    line = [x for x in proc.stderr.splitlines() if x.startswith("tenantmove:")][-1]
    assert "verification TXT records failed" in line and "is not served yet" in line
    assert "HINT: publish TXT MS=ms" in line
    _, new = make_client(fresh_sandbox, "target")
    assert new.get(f"domains/{DOMAIN}")["isVerified"] is False  # added, waiting for DNS: nothing else happened
    assert len(new.get_all("users", {"$filter": "userPrincipalName eq 'megan.bowen@contoso.example'"})) == 0

    # the cutover cannot finish: the way back, as its notebook runs unattended (only when named)
    params = write_params(tmp_path, fresh_sandbox)  # the DNS provider that can publish again
    back = tenantmove("run", str(params), "--phases", "25", "--runs-dir", str(runs), cwd=tmp_path)
    assert back.returncode == 1  # the groups' addresses wait for the admin's Exchange script
    line = [x for x in back.stderr.splitlines() if x.startswith("tenantmove:")][-1]
    assert "the way back is not complete" in line and "group addresses" in line and "HINT: " in line, back.stderr[-3000:]
    rolled = runs_in(runs)[-1]
    scripts = sorted(rolled.rglob("*rollback-group-address*.ps1"))
    assert scripts
    for script in scripts:
        fresh_sandbox.admin("POST", "powershell/contoso.onmicrosoft.com", data=script.read_bytes())
    resumed = tenantmove("run", str(params), "--phases", "25", "--resume", str(rolled), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    old = make_client(fresh_sandbox, "source")[1]
    assert old.get(f"domains/{DOMAIN}")["isVerified"] is True
    assert old.get("users/megan.bowen@contoso.example")["mail"] == "megan.bowen@contoso.example"
    assert old.get("groups", {"$filter": "mailNickname eq 'sales'"})["value"][0]["mail"] == "sales@contoso.example"
    assert DOMAIN not in {d["id"] for d in new.get("domains")["value"]}
    assert run_json(rolled)["phases"][-1]["summary"]["rolled back"].startswith("yes")
    assert "Items reopened" in outputs_text(rolled / "25_rollback_domain.ipynb")
