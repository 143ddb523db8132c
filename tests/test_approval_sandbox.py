"""A second person approves the cutover's plan: phase 20 runs in this process against the sandbox (its own plan,
gate and apply, over real sockets) and applies nothing without an approval that counts. Signed: missing, of
another plan (a parameter changed after approval), then the right one; `verify` names a forged approval. By
sign-in: the operator's own identity and an approver without the role are refused, a second person is taken."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tenantmove.engine.ledger import LEDGER_FILE, read_approvals
from tenantmove.phases import release_domain
from tenantmove.phases.rehearsal import Option, prepare
from tenantmove.runbook import approval
from tenantmove.runbook.approval import ApprovalMissing, ApprovalRefused
from tenantmove.runbook.context import OutsideWindow, Phase
from tenantmove.sandbox import Sandbox

from .runner_helpers import people_signing_in

DOMAIN = "contoso.example"
OPERATOR = "Jane Operator <jane.operator@contoso.example>"


def approver_key(path: Path, name: str, email: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.EMAIL_ADDRESS,
                                                                                           email)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + pem)
    path.with_suffix(".cert.pem").write_bytes(pem)
    return path


@functools.cache
def window(hours: float = 2) -> str:
    """The change window around now, the same for every phase of the session: a window that moved with the clock
    would change the parameters (and so the plan's digest) when a minute ends between two phases."""
    now = dt.datetime.now(dt.UTC)
    return f"{now - dt.timedelta(hours=1):%Y-%m-%dT%H:%MZ}/{now + dt.timedelta(hours=hours):%Y-%m-%dT%H:%MZ}"


def phase20(sb: Sandbox, work: Path, approval_cfg: dict[str, Any], operator: str = OPERATOR,
            **extra: Any) -> Phase:
    return Phase.start("20_release_domain", {
        "name": "approval", "cloud": "sandbox", "sandbox_dir": str(sb.state_dir), "domain": DOMAIN,
        "state_dir": str(work / "state"), "run_dir": str(work / "run"), "run_id": "approval-test",
        "operator": operator, "interactive": False, "dry_run": False, "confirm": DOMAIN, "dns_lower_ttl": True,
        "change": {"ticket": "CHG-1", "window": window(), "risk": "high", **extra.pop("change", {})},
        "approval": approval_cfg, **extra})


def apply20(phase: Phase) -> Any:
    old = phase.sign_in("source")
    src = phase.load_inventory("source")
    release = release_domain.plan(phase, old, src)
    gate = phase.confirm_gate(f"release {DOMAIN}", plan=release)
    return release_domain.apply(phase, old, src, release, gate)


def domains(sb: Sandbox) -> set[str]:
    from .conftest import make_client

    return {d["id"] for d in make_client(sb, "source")[1].get("domains")["value"]}


def test_a_signed_approval_lets_only_its_own_plan_apply_and_verify_names_a_forged_one(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    prepare(sb.state_dir, tmp_path, DOMAIN, Option("approval", lower=True))
    key = approver_key(tmp_path / "pat.pem", "Pat Approver", "pat.approver@contoso.example")
    policy = {"mode": "signature", "certificates": str(key.with_suffix(".cert.pem"))}

    with pytest.raises(ApprovalMissing) as missing:  # nobody approved yet: the plan waits, nothing changes
        apply20(phase20(sb, tmp_path, policy))
    assert "approve" in missing.value.one_line() and DOMAIN in domains(sb)
    run = tmp_path / "run"
    request = json.loads((run / "20_release_domain" / approval.REQUEST).read_text())
    assert request["operator"] == OPERATOR and len(request["digest"]) == 64 and request["tables"]

    own = approver_key(tmp_path / "jane.pem", "Jane Operator", "jane.operator@contoso.example")
    with pytest.raises(ApprovalRefused, match="operator"):  # the operator cannot approve their own plan
        approval.sign_request(run, "20", own)
    approval.sign_request(run, "20", key)

    with pytest.raises(ApprovalRefused) as changed:  # a parameter changed after approval: another plan
        apply20(phase20(sb, tmp_path, policy, ttl_override="changed after the approval"))
    assert "another plan" in changed.value.one_line() and "\n" not in changed.value.one_line()
    assert DOMAIN in domains(sb)

    approved = phase20(sb, tmp_path, policy)
    released = apply20(approved)  # the plan that was approved
    state = tmp_path / "ledger-at-the-end"  # as the run's end leaves it (its snapshot), read as verify reads it
    approved.ledger().snapshot(state / LEDGER_FILE)
    assert DOMAIN not in domains(sb) and released.summary["domain"]
    folder = run / "20_release_domain"
    entries = approval.recorded(folder)
    assert [e.get("refused", "") != "" for e in entries] == [True, False]
    kept = read_approvals(state / LEDGER_FILE, "approval-test")
    assert [e["by"] for e in kept] == ["pat.approver@contoso.example"]
    record = {"run_id": "approval-test", "parameters": {"approval": policy}, "phases": []}
    assert approval.check_run(run, state, record) == []

    forged = [dict(e, by="ceo@contoso.example") if not e.get("refused") else e for e in entries]
    (folder / approval.RECORD).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in forged))
    problems = approval.check_run(run, state, record)
    assert any("ceo@contoso.example" in p and "forged" in p for p in problems), problems


def test_by_sign_in_the_operator_and_a_person_without_the_role_are_refused(fresh_sandbox: Sandbox,
                                                                           tmp_path: Path) -> None:
    sb = fresh_sandbox
    prepare(sb.state_dir, tmp_path, DOMAIN, Option("approval", lower=True))
    admin = "admin@contosonew.onmicrosoft.com"  # the stand-in person signs in as the new tenant's admin
    with people_signing_in(sb):
        with pytest.raises(ApprovalRefused, match="is the operator"):
            apply20(phase20(sb, tmp_path, {"mode": "signin"}, operator=f"The Admin <{admin}>"))
        with pytest.raises(ApprovalRefused, match="holds none of the roles"):
            apply20(phase20(sb, tmp_path, {"mode": "signin", "roles": "Privileged Role Administrator"}))
        assert DOMAIN in domains(sb)
        apply20(phase20(sb, tmp_path, {"mode": "signin"}))
    assert DOMAIN not in domains(sb)
    entries = approval.recorded(tmp_path / "run" / "20_release_domain")
    assert [bool(e.get("refused")) for e in entries] == [True, True, False]
    taken = entries[-1]
    assert taken["by"] == admin and taken["roles"] == ["Global Administrator"] and taken["how"] == "signin"


def test_outside_the_window_a_phase_that_applies_is_refused_unless_the_override_says_why(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    later = "2099-01-01T00:00Z/2099-01-02T00:00Z"
    with pytest.raises(OutsideWindow, match="before the change window"):
        phase20(fresh_sandbox, tmp_path, {"mode": "none"}, change={"window": later})
    phase = phase20(fresh_sandbox, tmp_path, {"mode": "none"}, change={"window": later,
                                                                       "override": "the board moved the date"})
    assert "override recorded: the board moved the date" in str(phase.header())
