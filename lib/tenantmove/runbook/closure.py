"""A migration is closed, not just finished: phase 90's verdict is green, every step of the closing checklist is
marked done (``python -m tenantmove done PARAMS KEY --note``: who, when, a note), and a second person signs the
closure (``python -m tenantmove close PARAMS``: by sign-in, or ``--key`` for a signature), as the plans of the
cutover are approved. The closure is kept in the state folder (``closure.json``) and in the migration's ledger;
the migration's index shows it in the change record."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clock import utc_now
from ..errors import TenantmoveError
from ..workloads import records
from . import approval, chain
from .approval_policy import ApprovalPolicy
from .change import Change

CLOSING_DONE = "closing-done.csv"  # in the state folder: key, by, at, note
CLOSURE = "closure.json"
PHASE = "closure"  # what the ledger's approvals call the closure


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    what: str


def checklist(old_initial_domain: str = "the old onmicrosoft domain") -> list[Step]:
    """What is done before and after the old subscription is cancelled, each with the key ``done`` marks it by."""
    return [
        Step("calendar-repair", "Turn off the old tenant's Calendar Repair Assistant",
             "It can send stray meeting updates about every 26 hours for the meetings that moved: Set-Mailbox "
             "-CalendarRepairDisabled $true per moved mailbox (phase 90's closing-checklist.csv has each command)."),
        Step("tell-users", "Tell the users",
             "Hand each person their letter (phase 90's letters/) and their first sign-in: the one-time pass or the "
             "temporary password (python -m tenantmove passwords PARAMS --out FILE [--passes])."),
        Step("keep-old-subscription", "Keep the old subscription running until the users confirm",
             "The old tenant is the only copy of what no API could move (the manual items) until your retention "
             "rules are met."),
        Step("remove-site-admin-rights", "Remove the site collection admin rights given for OneNote",
             "Phase 80 asked for Set-SPOUser -IsSiteCollectionAdmin $true on each moving person's OneDrive; take them "
             "back with Set-SPOUser ... -IsSiteCollectionAdmin $false (phase 80's manual script names each)."),
        Step("remove-app-consents", "Remove the migration app registrations' consents",
             "In both tenants, Entra admin centre > Enterprise applications > the tenantmove app > Permissions: "
             "revoke the admin consent, then delete the app registration and its secrets and certificates."),
        Step("cancel-old-subscription", "Cancel the old subscription",
             f"Through Microsoft support, as Microsoft's article says; {old_initial_domain} stays taken and cannot "
             "be reused."),
    ]


KEYS = {s.key for s in checklist()}


def mark(state_dir: Path, keys: list[str], by: str, note: str) -> None:
    for key in keys:
        records.append(state_dir / CLOSING_DONE, ["key", "by", "at", "note"], {"key": key, "by": by, "note": note})


def marks(state_dir: Path) -> dict[str, dict[str, str]]:
    """The latest mark of each step: who, when, the note."""
    return records.by_key(state_dir / CLOSING_DONE)


def last_verification(state_dir: Path) -> dict[str, Any] | None:
    """The chain's last run that gave a verdict (phase 90)."""
    return next((e for e in reversed(chain.entries(state_dir)) if e.get("verdict") in ("green", "red")), None)


def operators(state_dir: Path) -> list[str]:
    """Everyone who ran a run of this migration: none of them may sign its closure."""
    return sorted({str(e.get("operator")) for e in chain.entries(state_dir) if e.get("operator")})


def request(state_dir: Path) -> dict[str, Any]:
    """What the closure's approver signs: the last verification's chained manifest and the checklist's marks."""
    last = last_verification(state_dir) or {}
    done = marks(state_dir)
    body = json.dumps({"verification": last.get("manifest_sha256"), "marks": done}, sort_keys=True)
    return {"phase": PHASE, "run_id": str(last.get("run_id", "")), "operator": "; ".join(operators(state_dir)),
            "digest": hashlib.sha256(body.encode()).hexdigest(), "verification": last, "marks": done}


def not_ready(state_dir: Path) -> list[str]:
    """What keeps the migration from being closed (nothing: it may be signed)."""
    problems = []
    last = last_verification(state_dir)
    if last is None:
        problems.append("phase 90 has not given a verdict yet: run it")
    elif last.get("verdict") != "green":
        problems.append(f"phase 90's last verdict (run {last.get('run_id')}) is {last.get('verdict')}: rerun what it "
                        "names, then phase 90")
    done = marks(state_dir)
    open_steps = [s.key for s in checklist() if s.key not in done]
    if open_steps:
        problems.append(f"closing checklist not done: {', '.join(open_steps)} (python -m tenantmove done PARAMS KEY "
                        "--note '...')")
    return problems


def close(state_dir: Path, params: Any, endpoints: Any, key_file: Path | None, password_env: str = "") -> dict[str, Any]:
    """The second person signs the closure: by a fresh sign-in (approval.mode signin, or none) or with ``key_file``
    (signature). Checked as a plan's approval is; recorded in the state folder and the ledger."""
    from ..engine.ledger import Ledger

    problems = not_ready(state_dir)
    if problems:
        raise TenantmoveError(f"the migration cannot be closed yet: {'; '.join(problems)}", where=str(state_dir),
                              hint="finish these, then run close again")
    wanted = request(state_dir)
    policy = ApprovalPolicy.of(params.approval)
    how = "signature" if key_file is not None else "signin"
    policy = ApprovalPolicy(how, policy.phases, policy.tenant, policy.roles, policy.max_age_minutes,
                            policy.certificates, policy.why)
    entry = _signed(wanted, key_file, password_env) if key_file is not None else _signin(wanted, params, endpoints)
    entry["operator"] = wanted["operator"]
    why = approval.refusal(entry, wanted, policy, Change.of(params.change), approval.trusted_certificates(
        policy.certificates) if key_file is not None else {}, operators(state_dir), dt.datetime.now(dt.UTC))
    if why:
        raise approval.ApprovalRefused(why + "; the migration is not closed", where="close",
                                       hint="a second person, not an operator of this migration, signs the closure")
    entry.update(accepted_at=utc_now(), marks=wanted["marks"], verification=wanted["verification"])
    with Ledger.in_state_dir(state_dir) as ledger:
        ledger.record_approval(entry)
    (state_dir / CLOSURE).write_text(json.dumps(entry, indent=1, sort_keys=True), encoding="utf-8")
    chain.write_migration_index(state_dir)
    return entry


def closed(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / CLOSURE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _signed(wanted: dict[str, Any], key_file: Path, password_env: str) -> dict[str, Any]:
    from ..services.auth import load_key_pair

    key, cert = load_key_pair(str(key_file), password_env, "--key", "--password-env")
    return {**approval.signed_entry(key, cert, PHASE, wanted["digest"], utc_now()), "run_id": wanted["run_id"]}


def _signin(wanted: dict[str, Any], params: Any, endpoints: Any) -> dict[str, Any]:
    from .approver import sign_in_approver

    policy = ApprovalPolicy.of(params.approval)
    print(f"The closure of the migration (digest {wanted['digest'][:16]}…) waits for a second person: sign in with "
          f"the code below as someone holding {' or '.join(policy.roles)}, not an operator of the migration.",
          flush=True)
    return {**sign_in_approver(params, policy, endpoints, PHASE, wanted["digest"]), "run_id": wanted["run_id"]}


def check(state_dir: Path) -> list[str]:
    """The closure (if signed): as the migration's ledger kept it, its signature, and not an operator's."""
    from ..engine.ledger import LEDGER_FILE, read_approvals

    entry = closed(state_dir)
    if entry is None:
        return []
    problems = []
    ledger = state_dir / LEDGER_FILE
    kept = [e for e in read_approvals(ledger) if e.get("phase") == PHASE] if ledger.is_file() else []
    if json.dumps(entry, sort_keys=True) not in {json.dumps(e, sort_keys=True) for e in kept}:
        problems.append(f"the closure by {entry.get('by')} in {CLOSURE} is not the one the migration's ledger kept "
                        "(forged or altered)")
    if entry.get("how") == "signature":
        wrong = approval.signature_problem(entry)
        if wrong:
            problems.append(f"the closure: {wrong} (forged or altered)")
    operator = approval.same_person(str(entry.get("by", "")), "", operators(state_dir))
    if operator:
        problems.append(f"the closure was signed by {entry.get('by')}, who ran the migration ({operator})")
    return problems
