"""Phase 10: the new subscription exists with its own onmicrosoft name, licences suffice, the user
mapping is built and validated, and (optionally) users are pre-staged on the onmicrosoft domain."""

from __future__ import annotations

import pandas as pd

from ..engine import Outcome
from ..report import Report
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..workloads.inventory import Inventory
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
