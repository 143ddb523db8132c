"""The way back (phase 25) against the sandbox: the cutover fails at three points of phase 30 (the domain added but
not verified, verified but no user made yet, the users made and the new MX published), the way back runs as its
notebook runs it (plan, confirm, apply, reconcile, finish; the groups' addresses through the stand-in admin's
Exchange script), and the old tenant is as it was: the people's sign-in names and addresses, the groups'
addresses, the domain's DNS, mail accepted for every person. A later cutover then succeeds. At the last point the
way back itself stops half-way and resumes; one asked for when phase 20 never ran is refused before anything
changes."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tenantmove.engine import ItemsFailed, Ledger
from tenantmove.phases import rehearsal
from tenantmove.phases.common import StepFailed
from tenantmove.phases.rehearsal import Option
from tenantmove.phases.rollback_domain import RollbackRefused
from tenantmove.sandbox import Sandbox
from tenantmove.services.dnsops import Nameservers
from tenantmove.workloads import dnssnapshot
from tenantmove.workloads.domain import CutoverError

from .conftest import make_client
from .test_mail_sandbox import counts

pytestmark = pytest.mark.waits

DOMAIN, MEGAN = "contoso.example", "megan.bowen@contoso.example"
OPTION = Option("way back", lower=True)
REFUSED = "refused by the rollback test"
POINTS: dict[str, tuple[list[dict[str, Any]], type[Exception]]] = {
    "added, not verified": ([{"match": r"^domains/contoso\.example/verify$", "method": "POST", "status": 400,
                              "message": "Domain verification failed. " + REFUSED, "count": 1000}], CutoverError),
    "verified, no user made": ([{"match": r"^users$", "method": "POST", "status": 400, "message": REFUSED,
                                 "count": 1000}], ItemsFailed),
    "users made, new MX published": ([{"match": r"/manager/\$ref$", "method": "PUT", "status": 400,
                                       "message": REFUSED, "count": 1000}], ItemsFailed),
}


def _old_tenant(sb: Sandbox) -> dict[str, Any]:
    """What must come back: every user's and group's names and primary address, the domains, and the DNS."""
    client = make_client(sb, "source")[1]
    users = {u["id"]: (u["userPrincipalName"].lower(), str(u.get("mail") or "").lower(),
                       next((p[5:].lower() for p in u.get("proxyAddresses") or [] if p.startswith("SMTP:")), ""))
             for u in client.get_all("users", {"$select": "id,userPrincipalName,mail,proxyAddresses"})}
    groups = {g["id"]: str(g.get("mail") or "").lower() for g in client.get_all("groups", {"$select": "id,mail"})}
    domains = {d["id"]: d["isVerified"] for d in client.get("domains")["value"]}
    dns = sb.endpoints["dns"]
    snap = dnssnapshot.take(Nameservers([(dns["host"], dns["port"])]), DOMAIN)
    records = {(n, t, v) for n, t, v, o in snap.itertuples(index=False) if o != dnssnapshot.VERIFICATION}
    return {"users": users, "groups": groups, "domains": domains, "dns": records,
            "verification TXT": int((snap["owner"] == dnssnapshot.VERIFICATION).sum())}


def _run_scripts(sb: Sandbox, folder: Path, kind: str) -> int:
    """The stand-in admin runs this run's Exchange script for ``kind`` in the old tenant."""
    scripts = sorted(folder.rglob(f"*{kind}*.ps1"))
    for script in scripts:
        sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=script.read_text(encoding="utf-8").encode())
    return len(scripts)


def _roll_back(sb: Sandbox, work: Path) -> dict[str, Any]:
    """The way back until it reconciles: the first pass leaves the groups' addresses to the admin's script."""
    with pytest.raises(StepFailed) as unfinished:
        rehearsal.roll_back(sb.state_dir, work, DOMAIN, OPTION)
    assert "group addresses" in unfinished.value.message and "Exchange Online PowerShell" in unfinished.value.hint
    assert _run_scripts(sb, work / "run", "rollback-group-address") >= 1
    return rehearsal.roll_back(sb.state_dir, work, DOMAIN, OPTION)


def _mail_lands_in_the_old_tenant(sb: Sandbox) -> None:
    before = counts(sb, "source", MEGAN)["Inbox"]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "orders@fabrikam.example", MEGAN, "After the way back"
    msg.set_content("Still there?")
    with smtplib.SMTP(sb.endpoints["smtp"]["host"], sb.endpoints["smtp"]["port"], timeout=10) as conn:
        assert conn.send_message(msg) == {}
    assert counts(sb, "source", MEGAN)["Inbox"] == before + 1


def _stopped_half_way(sb: Sandbox, work: Path, before: dict[str, Any]) -> None:
    """A way back that fails at its renames in the old tenant (the domain has left the new tenant and is verified
    in the old one again); the rerun does only what is left."""
    sb.set_knobs(faults=[{"match": f"^users/({'|'.join(before['users'])})$", "method": "PATCH", "status": 400,
                          "message": REFUSED, "count": 3}])
    with pytest.raises(ItemsFailed):
        rehearsal.roll_back(sb.state_dir, work, DOMAIN, OPTION)
    sb.set_knobs(faults=[])
    with Ledger.in_state_dir(work / "state") as ledger:
        assert {i.kind for i in ledger.items(states=["failed"], phase="25_rollback_domain")} == {"rollback-rename-user"}


def _each_renamed_back_once(work: Path) -> None:
    with Ledger.in_state_dir(work / "state") as ledger:
        history = [ledger.history(i.kind, i.source_id) for i in ledger.items("rollback-rename-user")]
    renamed = [sum(1 for e in h if e["state"] == "done" and " -> " in str(e.get("note"))) for h in history]
    assert renamed and max(renamed) == 1  # each person renamed back once, across both passes
    assert any(e["state"] == "failed" for h in history for e in h)  # ... some only on the second pass


@pytest.mark.parametrize("point", list(POINTS))
def test_the_cutover_fails_in_phase_30_the_way_back_restores_the_old_tenant_and_a_later_cutover_succeeds(
        fresh_sandbox: Sandbox, tmp_path: Path, point: str) -> None:
    sb = fresh_sandbox
    rehearsal.prepare(sb.state_dir, tmp_path, DOMAIN, OPTION)
    before = _old_tenant(sb)
    rehearsal.release(sb.state_dir, tmp_path, DOMAIN, OPTION)
    assert _old_tenant(sb)["users"] != before["users"]  # phase 20 renamed them
    faults, failure = POINTS[point]
    sb.set_knobs(faults=faults)
    with pytest.raises(failure) as failed:
        rehearsal.add(sb.state_dir, tmp_path, DOMAIN, OPTION)
    assert REFUSED in str(failed.value.report if isinstance(failed.value, ItemsFailed) else failed.value)
    sb.set_knobs(faults=[])
    new = make_client(sb, "target")[1]
    in_new = {d["id"]: d["isVerified"] for d in new.get("domains")["value"]}
    assert in_new.get(DOMAIN) == (point != "added, not verified")  # the point the cutover stopped at

    if point == "users made, new MX published":  # and the way back stops half-way, at its renames in the old tenant
        _stopped_half_way(sb, tmp_path, before)
    done = _roll_back(sb, tmp_path)
    assert done["finished"].summary["items reopened"] > 0
    checks = done["checks"]
    assert (checks["missing"] + checks["extra"] + checks["mismatched"]).sum() == 0
    assert set(checks["area"]) >= {"domain", "user names", "group addresses", "DNS records", "mail"}
    assert (checks[checks["area"] == "mail"]["target"] == 1).all()  # the MX takes mail for every person again
    if point == "users made, new MX published":
        _each_renamed_back_once(tmp_path)
        assert "new tenant" not in done["applied"].summary  # it had let the domain go in the stopped pass
    after = _old_tenant(sb)
    assert after["users"] == before["users"] and after["groups"] == before["groups"]
    assert after["domains"] == before["domains"] and after["dns"] == before["dns"]
    assert after["verification TXT"] == 1
    assert DOMAIN not in {d["id"] for d in new.get("domains")["value"]}
    _mail_lands_in_the_old_tenant(sb)
    with pytest.raises(RollbackRefused):  # closed: a second way back finds nothing to do
        rehearsal.roll_back(sb.state_dir, tmp_path, DOMAIN, OPTION)

    rehearsal.release(sb.state_dir, tmp_path, DOMAIN, OPTION)  # the later cutover, from phase 20 again
    added = rehearsal.add(sb.state_dir, tmp_path, DOMAIN, OPTION)
    assert "verified" in added.summary["domain"]
    megan = new.get(f"users/{MEGAN}", {"$select": "id,userPrincipalName"})
    assert megan["userPrincipalName"].lower() == MEGAN
    assert _old_tenant(sb)["users"] != before["users"]  # phase 20 renamed the old tenant's people again
    people = new.get_all("users", {"$select": "userPrincipalName"})
    assert len({p["userPrincipalName"].lower() for p in people}) == len(people)  # nobody made twice


def test_a_way_back_when_phase_20_never_ran_is_refused_and_changes_nothing(fresh_sandbox: Sandbox,
                                                                           tmp_path: Path) -> None:
    sb = fresh_sandbox
    rehearsal.prepare(sb.state_dir, tmp_path, DOMAIN, OPTION)
    before = _old_tenant(sb)
    with pytest.raises(RollbackRefused) as refused:
        rehearsal.roll_back(sb.state_dir, tmp_path, DOMAIN, OPTION)
    line = refused.value.one_line()
    assert "nothing to roll back" in line and "phase 20" in line and "\n" not in line
    assert _old_tenant(sb) == before
