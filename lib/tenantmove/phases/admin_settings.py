"""Phase 40: both tenants' settings side by side; the areas the admin selects applied to the new tenant (read
back and compared); conditional access rebuilt report-only through the mappings, switched on only by its own
confirmed step; what no API carries as manual items with their place and commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import Outcome
from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.conditional_access import CaClient
from ..services.graph import GraphClient
from ..workloads import readback, security, setting_areas, settings
from ..workloads.inventory import Inventory
from ..workloads.passes import window
from ..workloads.settings import (
    ConditionalAccess,
    ConditionalAccessOn,
    ManualSettings,
    NamedLocations,
    Settings,
    diff,
)
from .checks import Check, Reads, reconciles
from .common import StepResult, Steps, apply_workloads, merge_resolution, plan_workloads


@dataclass
class AdminSettings:
    table: pd.DataFrame
    settings: Settings
    locations: NamedLocations
    policies: ConditionalAccess
    manual: ManualSettings
    new_ca: CaClient


def selected(phase: Phase) -> list[str]:
    return [a for a in phase.params.settings_apply.replace(" ", "").split(",") if a]


def own_areas(phase: Phase) -> tuple[list[str], dict[str, str]]:
    """The selected areas this migration applies, and (in a merge) each area another migration's values win:
    area -> that migration."""
    res = merge_resolution(phase)
    won = {a: w for a, w in (res.settings_from if res is not None else {}).items() if w != phase.params.name}
    return [a for a in selected(phase) if a not in won], won


def old_policies(phase: Phase, old: GraphClient) -> list[dict[str, Any]]:
    """The old tenant's conditional-access policies, each under its name in the new tenant (a merge renames one
    named like another migration's)."""
    res = merge_resolution(phase)
    renamed = res.policies if res is not None else {}
    return [{**p, "displayName": renamed.get(str(p["id"]), p["displayName"])} for p in CaClient(old).all("policies")]


def connect(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory,
            moving: pd.DataFrame) -> AdminSettings:
    """The comparison, and the workloads with the user and group mappings conditional access needs. In a merge, an
    area whose values another migration's old tenant gives the new one (the merge plan) is shown, not applied, and
    a policy named like another migration's is created under its own name."""
    res = merge_resolution(phase)
    areas, won = own_areas(phase)
    new_ids = {str(u).lower(): i for u, i in zip(tgt.users["userPrincipalName"], tgt.users["id"], strict=True)}
    old_ids = {str(u).lower(): i for u, i in zip(src.users["userPrincipalName"], src.users["id"], strict=True)}
    users = {old_ids[str(r["source_upn"]).lower()]: new_ids[str(r["target_upn"]).lower()]
             for _, r in moving.iterrows() if str(r["source_upn"]).lower() in old_ids
             and str(r["target_upn"]).lower() in new_ids}
    groups = group_map(src, tgt)
    names = {i: str(u) for u, i in zip(src.users["userPrincipalName"], src.users["id"], strict=True)}
    names.update({i: str(n) for i, n in zip(src.groups["id"], src.groups["displayName"], strict=True)})
    old_ca, new_ca = CaClient(old), CaClient(new)
    locations: dict[str, str] = {i.source_id: str(i.target_id) for i in phase.ledger().items("named-location", ["done"])
                                 if i.target_id}
    found = setting_areas.areas(sides(phase, old, new, src, groups, tgt.initial_domain))
    table = diff(found, areas)
    for area, winner in won.items():  # the side-by-side says whose values the merged tenant keeps
        title = found[area].title if area in found else area
        table.loc[table["area"] == title, "applied"] = f"no: {winner}'s values (the merge plan)"
    return AdminSettings(table, Settings(found, areas), NamedLocations(old_ca, new_ca),
                         ConditionalAccess(old_ca, new_ca, users, groups, locations, names,
                                           res.policies if res is not None else None),
                         ManualSettings(phase.state_dir, probes(phase, old, new, src, tgt, users)), new_ca)


def group_map(src: Inventory, tgt: Inventory) -> dict[str, str]:
    """Old group id -> new group id, by mail nickname."""
    nick = {str(n).lower(): i for n, i in zip(tgt.groups["mailNickname"], tgt.groups["id"], strict=True)}
    return {g: nick[str(n).lower()] for g, n in zip(src.groups["id"], src.groups["mailNickname"], strict=True)
            if str(n).lower() in nick}


def sides(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, groups: dict[str, str],
          new_initial: str) -> setting_areas.Sides:
    """Both tenants for the settings areas, with the group mapping and the domains' captured password expiry."""
    captured = setting_areas.captured_domains(phase.state_dir)
    return setting_areas.Sides(old, new, groups=groups,
                               group_names=dict(zip(src.groups["id"], src.groups["displayName"], strict=True)),
                               domains=setting_areas.domain_map(captured, new_initial, phase.params.domains),
                               captured=captured)


def probes(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory, tgt: Inventory,
           users: dict[str, str]) -> dict[str, Callable[[], readback.Probe]]:
    """The manual settings some API can read back, and how."""
    mail = [d for d, services in zip(src.domains["domain"], src.domains["services"], strict=True)
            if str(d).lower() in phase.params.domains and "Email" in str(services)]
    upns = {str(i): str(u) for i, u in zip(tgt.users["id"], tgt.users["userPrincipalName"], strict=True)}
    return {"exchange-accepted-domains": readback.mail_domains(new, mail),
            "teams-policies": readback.teams_policies(old, new, users, upns)}


@dataclass(repr=False)
class SettingsPlan(ShowsItself):
    table: pd.DataFrame
    outcomes: list[Outcome]
    first_day: str = ""  # what the first-day step after the settings will do

    def report(self) -> Report:
        differing = self.table[self.table["differs"]]
        report = Report().table(self.table, f"Both tenants' settings, side by side ({len(differing)} differ; "
                                            "'applied' marks the areas of the settings_apply parameter)")
        for outcome in self.outcomes:
            report.add(outcome.report())
        return report.text("Conditional-access policies are created **report-only** (or disabled, when they are off "
                           "in the old tenant), never on, so that nobody is locked out; the users, groups and named "
                           "locations they name are rewritten to the new tenant's. Switching them on is a separate "
                           "step below, with its own confirmation (parameter `ca_enforce`).") \
            .text(self.first_day)


def plan(phase: Phase, s: AdminSettings) -> SettingsPlan:
    phase.save_table("settings-diff", s.table)
    outcomes = plan_workloads(phase, (s.settings, s.locations, s.policies, s.manual))
    p = phase.params
    first = "**The first day**, after the settings: a letter for each moving person, in their language."
    if p.first_day_passes:
        starts, expires = window(p.pass_start, p.pass_lifetime_minutes)
        first += (f" Before it, each gets a Temporary Access Pass that works from {starts} to {expires} (UTC)"
                  f"{', once' if p.pass_usable_once else ''}, into the vault only; where the new tenant's policy "
                  "refuses one, that person's temporary password stands, and the step says so.")
    if p.plan_devices:
        first += " Each Autopilot device's move is a manual item (deregistered from the old tenant first)."
    return SettingsPlan(s.table, outcomes, first)


def apply(phase: Phase, s: AdminSettings, gate: ConfirmGate) -> StepResult:
    return apply_workloads(phase, gate, "changed", "setting(s)", lambda steps: apply_settings(s, steps))


def apply_settings(s: AdminSettings, steps: Steps) -> dict[str, Any]:
    """Phase 40's apply: settings, named locations, the policies that name them (report-only), what no API
    carries."""
    steps.run(s.settings)
    s.policies.locations.update(steps.run(s.locations).targets())
    policies = steps.run(s.policies)
    steps.run(s.manual)
    steps.report.table(pd.DataFrame([{"policy": r["name"], "new tenant": r["action"]} for r in policies.rows]),
                       "Conditional access in the new tenant: report-only until switched on")
    return {"settings differing": int(s.table["differs"].sum()),
            "policies report-only": policies.count("created report-only")}


def switch_on(phase: Phase, s: AdminSettings) -> StepResult:
    """The separate step: the copies of policies that are on in the old tenant, switched on (``ca_enforce`` and
    its own confirmation); otherwise they stay report-only."""
    ledger = phase.ledger()
    copies = [(i.source_id, str(i.name), str(i.target_id)) for i in ledger.items("ca-policy", ["done"])
              if (i.detail or {}).get("source state") == "enabled" and i.target_id]
    if not phase.params.ca_enforce or phase.dry_run:
        return StepResult(Report().banner("warn", f"{len(copies)} policy(ies) stay report-only (set ca_enforce: "
                                                  "true and confirm to switch them on)"), {"policies switched on": 0})
    gate = phase.confirm_gate(f"switch on {len(copies)} conditional-access policy(ies) in the new tenant")
    report = Report()
    steps = Steps(phase, gate, report)
    outcome = steps.run(ConditionalAccessOn(s.new_ca, copies))
    steps.finish("policy(ies)")
    return StepResult(report, {"policies switched on": outcome.count("switched on")})


def settings_check(phase: Phase, old: GraphClient, new: GraphClient, src: Inventory,
                   tgt: Inventory) -> tuple[Check, Check]:
    """The settings phase 40 applied (its settings_apply areas), old against new, and every conditional-access
    policy present in the new tenant by name; then the security gaps. A setting that differs reopens its item for
    phase 40."""
    check = Check("settings")
    areas, _ = own_areas(phase)
    found = setting_areas.areas(sides(phase, old, new, src, group_map(src, tgt), tgt.initial_domain))
    table = settings.diff(found, areas)
    for _, row in table[table["applied"] == "yes"].iterrows():
        differs = bool(row["differs"])
        if differs:
            check.reopen.append(("setting", "name", f"{row['area']}: {row['setting']}",
                                 f"{row['area']}: {row['setting']} is {row['new tenant']} in the new tenant"))
        check.add(f"{row['area']}: {row['setting']}", 1, 1, mismatched=int(differs),
                  detail=f"{row['old tenant']} -> {row['new tenant']}" if differs else "")
    before, new_policies = old_policies(phase, old), CaClient(new).all("policies")
    there = {str(p["displayName"]).lower(): p for p in new_policies}
    for policy in before:
        copy = there.get(str(policy["displayName"]).lower())
        check.add(f"conditional access: {policy['displayName']}", 1, int(copy is not None),
                  missing=int(copy is None), detail=f"new tenant: {copy.get('state')}" if copy else "")
    return check, security_check(phase, before, new_policies, found)


def security_check(phase: Phase, old_policies: list[dict[str, Any]], new_policies: list[dict[str, Any]],
                   found: dict[str, Any]) -> Check:
    """Protections on in the old tenant and weaker in the new one (policies, and protective settings of every
    area, applied or not): each a gap until the new tenant is as strict, or waived."""
    check = Check("security")
    waived = security.waivers(phase.state_dir)
    for gap in security.ca_gaps(old_policies, new_policies, waived) + security.setting_gaps(found, waived):
        check.add(gap.key, 1, int(not gap.open), mismatched=int(gap.open), detail=gap.detail())
    return check



@reconciles("settings", "security")
def settings_reconciled(r: Reads) -> list[Check]:
    return list(settings_check(r.phase, r.old, r.new, r.src, r.tgt))
