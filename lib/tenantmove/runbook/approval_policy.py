"""Who must approve which phase's plan, and how (the ``approval`` parameter): a second person, not the operator,
approves the plan of phases 20, 25 and 30 (and of any other phase the parameters name) before it applies, by signing
in (``signin``) or by signing the plan's digest with a certificate (``signature``). ``none`` is for a rehearsal,
or, in production, with the reason why nobody else can approve (a one-person IT department), on the record."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

APPROVAL_KEYS = {
    "mode": "none | signin (the approver signs in by device code) | signature (python -m tenantmove approve)",
    "phases": "the phases whose plan needs approval besides 20, 25 and 30, comma-separated numbers, e.g. 40,50",
    "tenant": "signin: the tenant the approver signs in to, source or target (default target)",
    "roles": "signin: the directory roles that may approve, comma-separated (default Global Administrator)",
    "max_age_minutes": "signin: how fresh the approver's sign-in must be (default 15)",
    "certificates": "signature: the approvers' certificate files (PEM), comma-separated",
    "why": "mode none in production: why nobody but the operator can approve (recorded)",
}
MODES = ("none", "signin", "signature")
ALWAYS = ("20", "25", "30")  # the cutover (the domain leaves the old tenant, arrives in the new one) and its way back


def _items(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


@dataclass(frozen=True)
class ApprovalPolicy:
    mode: str = "none"
    phases: tuple[str, ...] = ALWAYS
    tenant: str = "target"
    roles: tuple[str, ...] = ("Global Administrator",)
    max_age_minutes: int = 15
    certificates: tuple[str, ...] = ()
    why: str = ""

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> ApprovalPolicy:
        raw = raw or {}
        extra = tuple(p.split("_", 1)[0].zfill(2) for p in _items(raw.get("phases")))
        return cls(str(raw.get("mode") or "none").strip().lower(), tuple(sorted(set(ALWAYS + extra))),
                   str(raw.get("tenant") or "target").strip().lower(),
                   _items(raw.get("roles")) or ("Global Administrator",), int(raw.get("max_age_minutes") or 15),
                   _items(raw.get("certificates")), str(raw.get("why") or "").strip())

    def required(self, phase_id: str, dry_run: bool) -> bool:
        """Whether ``phase_id``'s apply waits for an approval (never in a dry run: nothing is applied)."""
        return self.mode != "none" and not dry_run and phase_id.split("_", 1)[0] in self.phases

    def describe(self) -> str:
        if self.mode == "none":
            return "not required" + (f" (why: {self.why})" if self.why else " (a rehearsal)")
        phases = ", ".join(self.phases)
        if self.mode == "signin":
            return (f"phases {phases}: a second person signs in to the {'new' if self.tenant == 'target' else 'old'} "
                    f"tenant holding {' or '.join(self.roles)} (sign-in at most {self.max_age_minutes} min old)")
        return f"phases {phases}: a second person signs the plan's digest with a certificate the parameters name"


def problems(raw: Any, production: bool, applies: bool, bad: Callable[[str, str, str], None]) -> None:
    """Each wrong key of the ``approval`` parameter, through ``bad(where, what, fix)``."""
    if not isinstance(raw, dict):
        return
    for key in raw:
        if key not in APPROVAL_KEYS:
            bad(f"approval.{key}", "is not a key of approval", f"the keys are {', '.join(APPROVAL_KEYS)}")
    mode = str(raw.get("mode") or "none").strip().lower()
    if mode not in MODES:
        bad("approval.mode", f"must be one of {', '.join(MODES)}, not {mode!r}",
            "signin: the approver signs in by device code; signature: python -m tenantmove approve")
    if str(raw.get("tenant") or "target").strip().lower() not in ("source", "target"):
        bad("approval.tenant", f"must be source or target, not {raw.get('tenant')!r}",
            "the tenant the approver's account is in")
    for phase in _items(raw.get("phases")):
        if not phase.split("_", 1)[0].isdigit():
            bad("approval.phases", f"{phase!r} is not a phase number", "e.g. phases: 40,50")
    age = raw.get("max_age_minutes", 15)
    if isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= 1440:
        bad("approval.max_age_minutes", f"must be a whole number of minutes from 1 to 1440, not {age!r}", "e.g. 15")
    if mode == "signature":
        files = _items(raw.get("certificates"))
        if not files:
            bad("approval.certificates", "is empty, but mode signature needs the approvers' certificates",
                "list the approvers' certificate files (PEM, public part only), e.g. certificates: approvers/cab.pem")
        for path in files:
            if not os.access(path, os.R_OK):
                bad("approval.certificates", f"cannot read the file {path}", "check the path and permissions")
    if production and applies and mode == "none" and not str(raw.get("why") or "").strip():
        bad("approval.mode", "is none, but this run changes Microsoft 365: nobody but the operator approves the "
            "cutover", "set mode: signin or signature for a second person, or say why nobody can in approval.why")
