"""Phase 10: the new subscription exists with its own onmicrosoft name, licences suffice, the user
mapping is built and validated, and (optionally) users are pre-staged on the onmicrosoft domain."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..engine import Outcome
from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..workloads.announcement import Announcement, check_sender
from ..workloads.inventory import Inventory
from ..workloads.letters import language
from ..workloads.people import from_inventory
from ..workloads.users import Users, prestage_upn
from .common import ONEDRIVES_LATER, StepFailed, StepResult, request_onedrives


def checks(phase: Phase, src: Inventory, tgt: Inventory) -> Report:
    rows = [
        {"check": "the new tenant exists", "result": "ok", "detail": f"{tgt.organization.get('displayName')} "
                                                                     f"({tgt.organization['id']})"},
        {"check": "a different tenant", "result": "ok" if src.organization["id"] != tgt.organization["id"] else "fail",
         "detail": f"old {src.organization['id']}"},
        {"check": "its own onmicrosoft.com name",
         "result": "ok" if src.initial_domain.lower() != tgt.initial_domain.lower() else "fail",
         "detail": f"{tgt.initial_domain}; the old name {src.initial_domain} stays reserved for months after "
                   "the old subscription is cancelled, so it can never be the new tenant's"},
    ]
    df = pd.DataFrame(rows)
    report = Report().table(df, "The new subscription")
    if (df["result"] == "fail").any():
        raise StepFailed("the new tenant is not usable: " + "; ".join(df[df["result"] == "fail"]["check"]),
                         where="target.tenant", hint="sign in to the new tenant, which needs its own initial domain",
                         report=report)
    return report


def licence_table(moving: pd.DataFrame, target: Inventory) -> pd.DataFrame:
    """Per SKU: seats the mapping needs against what the new tenant has free."""
    needed: dict[str, int] = {}
    for lic in moving["licences"]:
        for part in str(lic).split():
            needed[part] = needed.get(part, 0) + 1
    rows = []
    for _, sku in target.licences.iterrows():
        need = needed.pop(sku["skuPartNumber"], 0)
        rows.append({"skuPartNumber": sku["skuPartNumber"], "needed": need, "enabled": int(sku["enabled"]),
                     "consumed": int(sku["consumed"]), "available": int(sku["available"]),
                     "after move": int(sku["available"]) - need})
    rows += [{"skuPartNumber": part, "needed": n, "enabled": 0, "consumed": 0, "available": 0, "after move": -n}
             for part, n in needed.items()]
    return pd.DataFrame(rows, columns=["skuPartNumber", "needed", "enabled", "consumed", "available", "after move"])


def licences(phase: Phase, moving: pd.DataFrame, tgt: Inventory) -> pd.DataFrame:
    table = licence_table(moving, tgt)
    phase.save_table("licences", table)
    return table


def prestage(phase: Phase, client: GraphClient, moving: pd.DataFrame, src: Inventory, tgt: Inventory) -> StepResult:
    """Create the users now as name@<new>.onmicrosoft.com (renamed to the custom domain in phase 30)."""
    if not phase.params.prestage_users:
        return StepResult(Report().text("Pre-staging is off (`prestage_users: false`): users are created in phase 30."),
                          {"pre-staged users": "off"})
    workload = Users(client, moving, src, tgt, phase.password_vault(), licences=False, kind="prestage-user",
                     upn_for=lambda r: prestage_upn(r["target_upn"], tgt.initial_domain))
    workload.title = "pre-staged users"
    outcome: Outcome = phase.run(workload)
    report = outcome.report()
    if outcome.dry_run:
        report.banner("warn", "dry run: no user was created (set dry_run: false to pre-stage)")
        return StepResult(report, outcome.summary())
    onedrives = request_onedrives(phase, client, moving, tgt)
    if onedrives is None:
        return StepResult(report.text(ONEDRIVES_LATER), outcome.summary())
    report.add(onedrives.report())
    return StepResult(report, {**outcome.summary(), **onedrives.summary()})


@dataclass(repr=False)
class AnnouncementPlan(ShowsItself):
    """Who gets the announcement, from whom, in which language (``workload`` None: none is sent)."""

    people: pd.DataFrame
    sender: str = ""
    workload: Announcement | None = None

    def report(self) -> Report:
        if self.workload is None:
            return Report().text("No announcement (`announce_from` is empty): the people hear of the move from you.")
        defaulted = int((self.people["language note"] != "").sum())
        report = Report().table(self.people[["source_upn", "address", "language", "language note"]],
                                f"The announcement: {len(self.people)} mail(s) from {self.sender}, once, about "
                                f"{self.workload.when}")
        if defaulted:
            report.text(f"{defaulted} person(s) get the default language (no preferredLanguage, or no translation).")
        return report


def announcement_plan(phase: Phase, src: Inventory, moving: pd.DataFrame) -> AnnouncementPlan:
    """The announcement's plan: its sender checked (a user of the old tenant with a mailbox) before anything."""
    people = pd.DataFrame(columns=["source_upn", "target_upn", "display_name", "address", "language",
                                   "language note"])
    p = phase.params
    if not p.announce_from:
        return AnnouncementPlan(people)
    old = phase.sign_in("source")
    sender = check_sender(old, p.announce_from)
    read = from_inventory(src)
    mail = {str(u).lower(): str(m or u) for u, m in zip(src.users["userPrincipalName"], src.users["mail"],
                                                        strict=True)}
    rows = []
    for _, row in moving.iterrows():
        preferred = read(str(row["source_upn"])).attributes.get("preferredLanguage")
        rows.append({"source_upn": row["source_upn"], "target_upn": row["target_upn"],
                     "display_name": row.get("display_name") or row["target_upn"],
                     "address": mail.get(str(row["source_upn"]).lower(), row["source_upn"]),
                     "language": preferred, "language note": language(preferred)[1]})
    people = pd.DataFrame(rows, columns=people.columns)
    company = str(src.organization.get("displayName") or p.name)
    return AnnouncementPlan(people, sender, Announcement(old, p.announce_from, people, p.announce_when, company))


class NothingToConfirm:
    """The gate of a step with nothing to do: no box, nothing to wait for."""

    def wait(self) -> None:
        return None

    def require(self) -> None:
        return None


def announcement_gate(phase: Phase, plan: AnnouncementPlan) -> ConfirmGate | NothingToConfirm:
    if plan.workload is None or phase.dry_run:
        return NothingToConfirm() if plan.workload is None else phase.confirm_gate("send the announcement")
    return phase.confirm_gate(f"send the announcement to {len(plan.people)} people from {plan.sender}", plan=plan)


def announce(phase: Phase, plan: AnnouncementPlan, gate: ConfirmGate | NothingToConfirm) -> StepResult:
    """Send it (once: the ledger, and the sender's mailbox, know who has it)."""
    if plan.workload is None:
        return StepResult(Report().text("No announcement sent."), {"announcement": "none"})
    outcome = phase.run(plan.workload, gate)  # type: ignore[arg-type]
    report = outcome.report()
    if outcome.dry_run:
        report.banner("warn", "dry run: nothing was sent (set dry_run: false and confirm to send)")
    return StepResult(report, {"announcement sent": outcome.count("sent"),
                               "announcement sent before": outcome.count("done before") + outcome.count("adopted"),
                               "announcement from": plan.sender})
