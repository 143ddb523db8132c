"""The migration as one change record, on the migration's index: the request (the change parameters), the
approvals of the plans, the implementation phase by phase (who ran, who confirmed, who approved), the verification
(phase 90's verdict), the closure, and segregation of duties checked — the operators are not the approvers."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from . import approval, closure
from .approval_policy import ApprovalPolicy
from .change import Change

esc = html.escape


def _table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p><i>none</i></p>"
    cells = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>" + cells + "</table>"


def _record(entry: dict[str, Any]) -> dict[str, Any]:
    path = Path(str(entry.get("run_dir", ""))) / "run.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _confirmed(run_dir: Path, phase: str) -> list[str]:
    path = run_dir / phase / "confirmations.jsonl"
    if not path.is_file():
        return []
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted({str(c.get("by")) for c in found if not c.get("refused")})


def section(state_dir: Path, runs: list[dict[str, Any]]) -> str:
    """The change record of the migration whose chain is ``runs``, as HTML."""
    from ..engine.ledger import LEDGER_FILE, read_approvals

    records = [(e, _record(e)) for e in runs]
    latest = next((r for _, r in reversed(records) if r.get("parameters")), {})
    params = latest.get("parameters") or {}
    change, policy = Change.of(params.get("change")), ApprovalPolicy.of(params.get("approval"))
    request = {"ticket": change.ticket or "(none given)", "requested by": change.requester or "(none given)",
               "window": change.window or "(none given)", "risk": change.risk or "(none given)",
               "way back (backout)": change.backout or "(none given)", "approval of the plans": policy.describe()}
    ledger = state_dir / LEDGER_FILE
    approvals = read_approvals(ledger) if ledger.is_file() else []
    plan_approvals = [a for a in approvals if a.get("phase") != closure.PHASE]
    refused = sum(1 for e, _ in records for p in Path(str(e.get("run_dir", ""))).glob(f"*/{approval.RECORD}")
                  for a in approval.recorded(p.parent) if a.get("refused"))
    implementation = []
    for entry, record in records:
        run_dir = Path(str(entry.get("run_dir", "")))
        for phase in record.get("phases", []):
            name = str(phase.get("phase"))
            approved = sorted({str(a.get("by")) for a in plan_approvals if a.get("phase") == name
                               and a.get("run_id") == record.get("run_id")})
            implementation.append([str(record.get("run_id")), name, str(phase.get("status")),
                                   str(phase.get("operator") or record.get("operator") or ""),
                                   ", ".join(_confirmed(run_dir, name)) or "-", ", ".join(approved) or "-",
                                   str(sum(int(c.get("items") or 0) for c in phase.get("changed") or []))])
    verification = closure.last_verification(state_dir)
    closed = closure.closed(state_dir)
    marks = closure.marks(state_dir)
    operators = {o.lower() for o in closure.operators(state_dir)}
    approvers = {str(a.get("by")) for a in approvals}
    both = sorted(a for a in approvers if approval.same_person(a, "; ".join(operators), []))
    if both:
        duties = f"NOT MET: {', '.join(both)} both ran the change and approved it"
    elif not approvers:
        duties = ("not shown: nobody approved yet" if policy.mode != "none" else
                  f"not required{f' (why: {policy.why})' if policy.why else ' (a rehearsal without approval)'}")
    else:
        duties = (f"met: the operators ({', '.join(sorted(operators))}) approved nothing; the approvers "
                  f"({', '.join(sorted(approvers))}) ran nothing")
    parts = ["<h2 id='change-record'>Change record</h2>",
             f"<p><b>Segregation of duties:</b> {esc(duties)}</p>",
             "<h3>1. Request</h3>", _table(["", ""], [[k, v] for k, v in request.items()]),
             "<h3>2. Approvals of the plans</h3>",
             _table(["phase", "run", "how", "approved by", "role", "at (UTC)", "plan digest"],
                    [[a.get("phase"), a.get("run_id"), a.get("how"), a.get("by"), ", ".join(a.get("roles") or [])
                      or a.get("fingerprint", "")[:16], a.get("at"), str(a.get("digest"))[:16] + "…"]
                     for a in plan_approvals]),
             f"<p>{refused} approval(s) refused (each in its phase's <code>{approval.RECORD}</code>, with the "
             "reason).</p>",
             "<h3>3. Implementation</h3>",
             _table(["run", "phase", "status", "operator", "confirmed by", "approved by", "items changed"],
                    implementation),
             "<h3>4. Verification</h3>",
             f"<p>{esc(_verified(verification))}</p>",
             "<h3>5. Closure</h3>",
             _table(["step", "done by", "at (UTC)", "note"],
                    [[s.title, marks[s.key]["by"], marks[s.key]["at"], marks[s.key].get("note", "")] if s.key in marks
                     else [s.title, "OPEN", "", ""] for s in closure.checklist()]),
             f"<p><b>{esc(_closed(closed))}</b></p>"]
    return "\n".join(parts)


def _verified(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "phase 90 has not run yet"
    return (f"phase 90's last verdict: {str(entry.get('verdict')).upper()} (run {entry.get('run_id')}, ended "
            f"{entry.get('ended')}, manifest SHA-256 {str(entry.get('manifest_sha256'))[:16]}…)")


def _closed(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "NOT CLOSED: the migration is closed when phase 90 is green, every step above is done, and a second " \
               "person signs the closure (python -m tenantmove close PARAMS)"
    how = "by sign-in" if entry.get("how") == "signin" else "by signature"
    return (f"CLOSED: signed {how} by {entry.get('by')} ({', '.join(entry.get('roles') or []) or 'certificate'}) "
            f"at {entry.get('at')} (UTC), over the verification of run {entry.get('run_id')} and the checklist")
