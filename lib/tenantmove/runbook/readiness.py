"""Phase 00's verdict: may the migration go on? Later phases read it from the state folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..clock import utc_now
from ..errors import NotReady
from ..report import Report, ShowsItself
from ..workloads.inventory import Inventory
from .permissions import PermissionRow

READINESS_FILE = "readiness.json"
CUTOVER_PHASES = ("10_new_subscription", "20_release_domain", "30_add_domain_and_users")


@dataclass
class Check:
    check: str
    result: str  # ok | warn | fail
    detail: str
    hint: str = ""


@dataclass(repr=False)
class Verdict(ShowsItself):
    verdict: str  # ready | ready with warnings | not ready
    checks: list[Check] = field(default_factory=list)
    assessed: str = ""
    run_id: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict != "not ready"

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(c) for c in self.checks], columns=["check", "result", "detail", "hint"])

    def report(self) -> Report:
        level = {"ready": "ok", "ready with warnings": "warn", "not ready": "fail"}[self.verdict]
        return Report().table(self.table(), "Readiness checks").banner(level, f"Readiness verdict: {self.verdict}")


    def save(self, *folders: Path) -> None:
        data = json.dumps(asdict(self), indent=2)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / READINESS_FILE).write_text(data + "\n", encoding="utf-8")


def assess(domain: str, source: Inventory, target: Inventory, permissions: list[PermissionRow],
           this_phase: str = "00_prepare") -> list[Check]:
    checks: list[Check] = []
    src_id, tgt_id = source.organization["id"], target.organization["id"]
    if src_id == tgt_id:
        checks.append(Check("two tenants", "fail", f"source and target are the same tenant ({src_id})",
                            "sign in to the new tenant in target.*"))
    else:
        checks.append(Check("two tenants", "ok", f"old {src_id}, new {tgt_id}"))
    if source.initial_domain.lower() == target.initial_domain.lower():
        checks.append(Check("initial domain", "fail", f"both tenants are {source.initial_domain}",
                            "the new tenant needs its own onmicrosoft.com name"))
    else:
        checks.append(Check("initial domain", "ok",
                            f"new tenant is {target.initial_domain}; the old name {source.initial_domain} stays "
                            "reserved for months after the old subscription is cancelled, so it cannot be reused"))
    src_dom = source.domains[source.domains["domain"].str.lower() == domain]
    tgt_dom = target.domains[target.domains["domain"].str.lower() == domain]
    if not tgt_dom.empty and bool(tgt_dom.iloc[0]["verified"]):
        checks.append(Check("custom domain", "warn", f"{domain} is already verified in the new tenant",
                            "phases 20 and 30 have nothing left to move for the domain"))
    elif src_dom.empty:
        checks.append(Check("custom domain", "fail", f"{domain} is not a domain of the old tenant",
                            "check the domain parameter against the old tenant's domains table"))
    elif not bool(src_dom.iloc[0]["verified"]):
        checks.append(Check("custom domain", "warn", f"{domain} is in the old tenant but not verified", ""))
    else:
        checks.append(Check("custom domain", "ok", f"{domain} is verified in the old tenant and not in the new one"))
    missing_now = [r for r in permissions if r.phase == this_phase and r.missing]
    missing_cutover = [r for r in permissions if r.phase in CUTOVER_PHASES and r.missing]
    missing_later = [r for r in permissions if r.phase != this_phase and r.phase not in CUTOVER_PHASES
                     and r.missing]
    if missing_now:
        checks.append(Check("permissions for this phase", "fail",
                            ", ".join(f"{r.side}: {r.permission}" for r in missing_now),
                            "grant these application permissions and admin consent, then rerun"))
    else:
        checks.append(Check("permissions for this phase", "ok", "all granted"))
    if missing_cutover:  # these phases run in every migration: better stopped here than after a confirmation
        checks.append(Check("permissions for the cutover (phases 10-30)", "fail",
                            ", ".join(sorted({f"{r.side}: {r.permission} ({r.phase})" for r in missing_cutover})),
                            "grant them (application permissions with admin consent, or the delegated scopes of a "
                            "device-code sign-in), then rerun 00_prepare"))
    if missing_later:
        checks.append(Check("permissions for later phases", "warn",
                            ", ".join(sorted({f"{r.side}: {r.permission} ({r.phase})" for r in missing_later})),
                            "grant them before those phases run"))
    else:
        later = [r for r in permissions if r.phase != this_phase]
        unchecked = sorted({r.phase for r in later if r.status == "at sign-in"})
        detail = "all granted" + (f" (checked at their own sign-in: {', '.join(unchecked)})" if unchecked else "")
        checks.append(Check("permissions for later phases", "ok", detail))
    need = source.users[source.users["licences"].fillna("") != ""]
    short = []
    for part in sorted({p for lic in need["licences"] for p in str(lic).split()}):
        wanted = int(need["licences"].str.split().apply(lambda lst, p=part: p in lst).sum())
        row = target.licences[target.licences["skuPartNumber"] == part]
        available = int(row.iloc[0]["available"]) if not row.empty else 0
        if available < wanted:
            short.append(f"{part}: {wanted} needed, {available} available")
    if short:
        checks.append(Check("licences in the new tenant", "warn", "; ".join(short),
                            "buy more seats or map some users to another SKU in phase 10"))
    else:
        checks.append(Check("licences in the new tenant", "ok", "enough seats for every licensed user, per SKU"))
    if source.users.empty:
        checks.append(Check("users to move", "warn", "the old tenant has no users", ""))
    else:
        checks.append(Check("users to move", "ok", f"{len(source.users)} users, {len(source.groups)} groups"))
    return checks


def verdict(checks: list[Check]) -> str:
    if any(c.result == "fail" for c in checks):
        return "not ready"
    if any(c.result == "warn" for c in checks):
        return "ready with warnings"
    return "ready"


def require(state_dir: Path) -> dict[str, Any]:
    """For later phases: the saved verdict, or :class:`NotReady` naming what to do."""
    path = Path(state_dir) / READINESS_FILE
    if not path.is_file():
        raise NotReady("phase 00_prepare has not produced a readiness verdict yet", where=str(path),
                       hint="run notebooks/00_prepare.ipynb first with the same state_dir")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("verdict") == "not ready":
        failed = "; ".join(c["check"] + ": " + c["detail"] for c in data.get("checks", []) if c["result"] == "fail")
        raise NotReady(f"the readiness verdict is 'not ready' ({failed})", where=str(path),
                       hint="fix those causes and rerun 00_prepare")
    return data


def evaluate(domain: str, source: Inventory, target: Inventory, permissions: list[PermissionRow],
             run_id: str, *folders: Path, inputs: list[Check] | None = None) -> Verdict:
    """Assess and save the verdict where later phases find it (it shows itself in a notebook).
    ``inputs``: the checks of what later phases need (mapping, DNS key), from :mod:`.preflight`."""
    checks = assess(domain, source, target, permissions) + list(inputs or [])
    result = Verdict(verdict(checks), checks, utc_now(), run_id)
    result.save(*folders)
    return result


def stop_unless_ready(result: Verdict) -> None:
    if not result.ok:
        failed = "; ".join(f"{c.check}: {c.detail}" for c in result.checks if c.result == "fail")
        hints = "; ".join(c.hint for c in result.checks if c.result == "fail" and c.hint)
        raise NotReady(f"the migration is not ready: {failed}", where="readiness checks", hint=hints)
