"""The steps of phases 10, 20 and 30 as the notebooks call them: each shows its plan or result as
tables and text, and returns what the next step needs. The work itself is in :mod:`identity`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from . import identity, inventory, mapping, ui
from .errors import TenantmoveError
from .inventory import Inventory
from .phase import Phase


class StepFailed(TenantmoveError):
    """A step finished with failures; what failed is in the table above and in the ledger."""


# --- phase 10 -----------------------------------------------------------------------------------
def new_tenant_checks(phase: Phase, src: Inventory, tgt: Inventory) -> None:
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
    ui.table(df, "The new subscription")
    if (df["result"] == "fail").any():
        raise StepFailed("the new tenant is not usable: " + "; ".join(df[df["result"] == "fail"]["check"]),
                         where="target.tenant", hint="sign in to the new tenant, which needs its own initial domain")


def user_mapping(phase: Phase, src: Inventory, tgt: Inventory) -> pd.DataFrame:
    """Generate the mapping if it does not exist yet, then validate it; return the rows to move."""
    path = Path(phase.params.user_mapping) if phase.params.user_mapping else phase.state_dir / "users.csv"
    if not path.is_file():
        mapping.write(mapping.generate(src, phase.params.domain, tgt.initial_domain), path)
        ui.banner("warn", f"generated the user mapping {path}: review it (edit target_upn, usage_location, licences, "
                          "or action: skip) and rerun this phase if you change it")
    df = mapping.read(path)
    # seats already taken by users an earlier run moved are theirs: count them as available again
    moved = {i.name.lower() for i in phase.ledger().items("user", ["done"])}
    held: dict[str, int] = {}
    for _, r in df.iterrows():
        if r["source_upn"].lower() in moved:
            for part in str(r.get("licences", "")).split():
                held[part] = held.get(part, 0) + 1
    licences = tgt.licences.assign(available=[int(a) + held.get(p, 0) for p, a in
                                              zip(tgt.licences["skuPartNumber"], tgt.licences["available"], strict=True)])
    try:
        moving = mapping.validate(df, str(path), src, phase.params.domain, tgt.initial_domain, licences)
    except mapping.MappingError as exc:
        ui.table(exc.frame(), f"Problems in {path}")
        raise
    phase.save_table("user-mapping", df)
    ui.table(moving, f"User mapping ({len(moving)} users move, {len(df) - len(moving)} skipped) — {path}")
    return moving


def prestage(phase: Phase, client: Any, moving: pd.DataFrame, src: Inventory, tgt: Inventory) -> dict[str, Any]:
    if not phase.params.prestage_users:
        ui.markdown("Pre-staging is off (`prestage_users: false`): users are created in phase 30.")
        return {"pre-staged users": "off"}
    plan = pd.DataFrame({"source_upn": moving["source_upn"],
                         "pre-staged as": [identity.prestage_upn(u, tgt.initial_domain) for u in moving["target_upn"]]})
    ui.table(plan, "Users to create now on the new onmicrosoft domain (renamed to the custom domain in phase 30)")
    if phase.params.dry_run:
        ui.banner("warn", "dry run: no user was created (set dry_run: false to pre-stage)")
        return {"pre-staged users": f"planned {len(plan)} (dry run)"}
    result = identity.ensure_users(client, phase.ledger(), phase.id, "prestage-user", moving, src, tgt,
                                   phase.password_vault(), licences=False,
                                   upn_for=lambda r: identity.prestage_upn(r["target_upn"], tgt.initial_domain),
                                   progress=phase.progress("pre-staging"))
    _report_users(result, "Pre-staged users")
    return {f"pre-stage: {k}": v for k, v in result.summary().items()}


def _report_users(result: identity.UserResult, title: str) -> None:
    ui.table(pd.DataFrame([{"item": k, "count": v} for k, v in result.summary().items()]), title)
    if result.failed:
        ui.table(pd.DataFrame({"failed": result.failed}), "Failures (retried on the next run)")
        raise StepFailed(f"{len(result.failed)} user(s) failed", where="ledger",
                         hint="read the failures above; fix the cause and rerun: done users are skipped")


# --- phase 20 -----------------------------------------------------------------------------------
def release_plan(phase: Phase, old: Any, src: Inventory) -> dict[str, Any]:
    domain = phase.params.domain
    present = domain in {d["id"] for d in old.get("domains")["value"]}
    refs = identity.domain_references(old, domain) if present else pd.DataFrame(columns=["type", "id", "name", "address"])
    plan = identity.rename_plan(refs, domain, src.initial_domain)
    ns, provider = phase.dns()
    if present:
        records, table = identity.records_to_remove(ns, domain)
    else:  # released: whatever DNS serves now belongs to the new tenant and must not be touched
        records, table = [], pd.DataFrame(columns=["name", "type", "value", "purpose"])
        ui.banner("ok", f"{domain} is no longer a domain of the old tenant: its DNS is not this phase's any more")
    ui.table(refs, f"Objects that reference {domain} (domainNameReferences)")
    ui.table(plan, f"Plan: rename to {src.initial_domain}")
    ui.table(table, "DNS records to remove (live lookup at the authoritative servers)")
    phase.save_table("references", refs)
    phase.save_table("rename-plan", plan)
    phase.save_table("dns-remove", table)
    users = int((plan["type"] == "user").sum())
    if present and len(refs) - users > 0:
        ui.markdown(f"**forceDelete** will rename the other {len(refs) - users} object(s). It is limited to 1,000 "
                    "objects and refuses multitenant applications (Graph cannot show which apps are multitenant: "
                    "if one references the domain, change its identifier URIs in the Entra admin centre first).")
    if present or records:
        ui.banner("warn", f"From the moment these DNS records are removed, mail to {domain}, Skype/Lync and the "
                          "public website stop, until phase 30 publishes the new records.")
    return {"present": present, "refs": refs, "plan": plan, "records": records, "ns": ns, "provider": provider}


def release_apply(phase: Phase, old: Any, src: Inventory, ctx: dict[str, Any], gate: Any) -> dict[str, Any]:
    domain = phase.params.domain
    if not ctx["present"] and not ctx["records"]:
        ui.banner("ok", "nothing to change: the domain is released and its records are gone")
        return {"result": "nothing to change"}
    if phase.params.dry_run:
        ui.banner("warn", "dry run: nothing was changed (set dry_run: false and confirm to apply)")
        return {"result": "dry run"}
    gate.require()
    ledger, cutover = phase.ledger(), phase.cutover()
    renamed = identity.rename_users(old, ledger, phase.id, ctx["plan"]) if ctx["present"] else {}
    if renamed.get("failed"):
        raise StepFailed(f"{renamed['failed']} rename(s) failed", where="ledger", hint="see the ledger; rerun")
    wait, poll = phase.dns_wait()
    if ctx["records"]:
        cutover.mark("mail_down", phase.run_id, phase.operator, f"removing {len(ctx['records'])} DNS records")
    _, left, notes = identity.publish(ctx["ns"], ctx["provider"], [], ctx["records"], wait, poll,
                                      phase.progress("DNS removal"))
    for note in notes:
        print(note)
    if left:
        ui.table(pd.DataFrame([r.__dict__ for r in left]), "Still served by DNS")
        raise StepFailed(f"{len(left)} record(s) are still served after {wait:.0f} s", where="dns",
                         hint="remove them at the DNS host (or wait for it), then rerun this phase")
    deleted = identity.delete_domain(old, domain, src.initial_domain, wait) if ctx["present"] \
        else "already deleted"
    result = {**{f"users {k}": v for k, v in renamed.items()}, "DNS records removed": len(ctx["records"]),
              "domain": deleted, "mail stopped at (UTC)": cutover.get("mail_down")}
    ui.key_values("Released", result)
    return result


# --- phase 30 -----------------------------------------------------------------------------------
def add_plan(phase: Phase, new: Any, src: Inventory, moving: pd.DataFrame) -> dict[str, Any]:
    domain = phase.params.domain
    names = {d["id"]: d for d in new.get("domains")["value"]}
    state = "verified" if names.get(domain, {}).get("isVerified") else ("added, not verified" if domain in names
                                                                         else "not added yet")
    src_domain = src.domains[src.domains["domain"] == domain]
    services = [s.strip() for s in (src_domain.iloc[0]["services"] if not src_domain.empty else "Email").split(",")
                if s.strip()] or ["Email"]
    expected = src.dns_records[src.dns_records["domain"] == domain]
    ui.key_values(f"{domain} in the new tenant", {"now": state, "services to enable": ", ".join(services)})
    ui.table(expected, "Service records to publish after verification (as the old tenant had them)")
    ui.table(moving[["source_upn", "target_upn", "usage_location", "licences", "groups"]],
             "Users to create or update (usage location before licences)")
    ui.table(src.groups.drop(columns=["id"]), "Groups to recreate (distribution lists: Exchange admin centre)")
    ns, provider = phase.dns()
    return {"state": state, "services": services, "ns": ns, "provider": provider}


def add_apply(phase: Phase, new: Any, src: Inventory, tgt: Inventory, moving: pd.DataFrame, ctx: dict[str, Any],
              gate: Any) -> dict[str, Any]:
    domain = phase.params.domain
    if phase.params.dry_run:
        ui.banner("warn", "dry run: nothing was changed (set dry_run: false and confirm to apply)")
        return {"result": "dry run"}
    gate.require()
    ns, provider = ctx["ns"], ctx["provider"]
    wait, poll = phase.dns_wait()
    cutover = phase.cutover()
    added = identity.add_domain(new, domain)
    txt = identity.verification_records(new, domain) if added != "verified already" else []
    _, left, _ = identity.publish(ns, provider, txt, [], wait, poll, phase.progress("verification TXT"))
    if left:
        raise StepFailed("the verification TXT record is not served yet", where="dns",
                         hint=f"publish TXT {txt[0].value} at {domain} and rerun")
    verified = identity.verify_domain(new, domain)
    services = identity.service_records(new, domain, ctx["services"])
    _, left, _ = identity.publish(ns, provider, services, [], wait, poll, phase.progress("service records"))
    if left:
        ui.table(pd.DataFrame([r.__dict__ for r in left]), "Not served yet")
        raise StepFailed(f"{len(left)} service record(s) are not served yet", where="dns",
                         hint="publish them at the DNS host, then rerun this phase")
    mx = [r for r in services if r.type == "MX"]
    if mx:  # nothing is left unpublished, so every authoritative server answers with the new MX
        cutover.mark("mail_up", phase.run_id, phase.operator, f"MX {mx[0].value} answers")
    users = identity.ensure_users(new, phase.ledger(), phase.id, "user", moving, src, tgt, phase.password_vault(),
                                  upn_for=lambda r: r["target_upn"],
                                  also_look_for=lambda r: [identity.prestage_upn(r["target_upn"], tgt.initial_domain)],
                                  progress=phase.progress("users"))
    _report_users(users, "Users")
    groups = identity.ensure_groups(new, phase.ledger(), phase.id, src)
    ui.table(groups, "Groups")
    members = identity.ensure_members(new, phase.ledger(), phase.id, src)
    ui.key_values("Memberships", members)
    window = cutover.window()
    ui.key_values("Mail downtime window", window)
    changed = (added == "added" or verified == "verified" or users.created or users.renamed or users.licensed
               or (groups["result"] == "created").any() or members["members added"])
    if not changed:
        ui.banner("ok", "nothing changed: the domain, the DNS records, the users, groups and members were all done before")
    vault = phase.password_vault()
    if users.created:
        ui.markdown(f"Temporary passwords of the {users.created} new user(s) are in `{vault.path}` (readable only by "
                    "you); users must change them at first sign-in. They are never shown here.")
    return {"domain": f"{added}, {verified}", "service records": len(services), **users.summary(),
            "groups": len(groups), **members, **{k: v for k, v in window.items()}}


def load_inventories(phase: Phase, new: Any) -> tuple[Inventory, Inventory]:
    """The old tenant as phase 00 saw it (state folder), the new tenant as it is now."""
    src = phase.load_inventory("source")
    tgt = inventory.collect(new)
    phase.save_inventory("target", tgt)
    return src, tgt
