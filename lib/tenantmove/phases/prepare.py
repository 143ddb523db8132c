"""Phase 00's own steps beyond the inventory: the custom domain's DNS as it is before the cutover."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pandas as pd

from ..engine import ManualStep, ps_quote
from ..engine.manual import SCRIPT_SUFFIX, write_script
from ..report import Report
from ..runbook.context import Phase
from ..services import reports
from ..services.dnsops import DnsError, ManualProvider
from ..services.graph import GraphClient, GraphError
from ..workloads import devices as devicelist
from ..workloads import dnssnapshot, dnsttl, groupdelivery, mailboxrights, mailwindow
from ..workloads import forecast as model
from ..workloads.exported import OLD_EXPORT, folder_of
from ..workloads.inventory import Inventory
from .checks import Check, Reads, reconciles


def devices(phase: Phase, old: GraphClient) -> Report:
    """The old tenant's devices and what each needs (``plan_devices``), kept in the state folder for phase 40's
    Autopilot items and the letters. A part that cannot be read is named, and the rest goes on."""
    if not phase.params.plan_devices:
        return Report().text("Devices are not planned (`plan_devices: false`): none of them follows the tenant, so "
                             "each must be re-joined, re-enrolled or reset by hand.")
    table, gaps = devicelist.collect(old)
    devicelist.save(phase.state_dir, table)
    phase.save_table("devices", table)
    report = Report().table(table, f"The old tenant's devices ({len(table)}): none can follow the tenant")
    for gap in gaps:
        report.banner("warn", f"not read: {gap} (grant the permission in the table above, or Intune is not "
                              "licensed there); the list lacks those devices")
    pilots = int((table["autopilot serial"] != "").sum())
    if pilots:
        report.text(f"{pilots} Autopilot device(s): phase 40 writes their move (hash exported on the device, "
                    "deregistered from the old tenant first, then imported into the new one) as manual items.")
    return report


def each_domain(phase: Phase, step: Callable[[Phase], Report]) -> Report:
    """``step`` for each custom domain the migration moves (``domain``, then ``also_domains``), each under its name."""
    views = phase.domain_views()
    if len(views) == 1:
        return step(phase)
    report = Report()
    for view in views:
        report.text(f"**{view.params.domain}**").add(step(view))
    return report


def forecast(phase: Phase, old: GraphClient, inv: Inventory) -> Report:
    """How long the content phases will take (:mod:`..workloads.forecast`): the old tenant's items and bytes per
    mailbox, OneDrive and site from its usage reports, the service's limits as the client applies them, this
    machine's answer time from the old tenant (the median of a few reads), and the engine's ``workers``. Kept in
    the state folder (``forecast.csv``) for the benchmarks and the phases to compare with what they took."""
    if not phase.params.forecast:
        return Report().text("No forecast of the content phases' durations (set forecast: true; the old tenant's "
                             "app needs Reports.Read.All).")
    try:
        found = {r: reports.sizes(old, r) for r in (reports.MAILBOXES, reports.ONEDRIVES, reports.SITES)}
    except GraphError as exc:
        return Report().banner("warn", f"no forecast: the usage reports could not be read ({exc.one_line()}); grant "
                                       "Reports.Read.All to the old tenant's app for one")
    times = []
    for _ in range(5):
        began = time.monotonic()
        old.get("organization", {"$select": "id"})
        times.append(time.monotonic() - began)
    licences = model.licences_given(inv.licences)
    limits = model.Limits(sharepoint_units_per_minute=model.ru_per_minute(licences),
                          latency_s=statistics.median(times), workers=phase.params.workers)
    table = model.forecast(found[reports.MAILBOXES], found[reports.ONEDRIVES], found[reports.SITES], limits)
    phase.save_table("forecast", table)
    table.to_csv(phase.state_dir / "forecast.csv", index=False)
    shown = table.drop(columns=[c for c in table.columns if c.endswith(", s")])
    seconds = table[["phase", *(c for c in table.columns if c.endswith(", s"))]]
    return (Report().table(shown, "Forecast: how long each content phase will take in this notebook (cluster "
                                  "empty) and on 2 and 4 worker processes (cluster: local:N), and the limit that binds")
            .bars(seconds, "phase", [c for c in seconds.columns if c != "phase"], "Expected duration per phase",
                  "seconds")
            .text(f"From the old tenant's usage reports ({len(found[reports.MAILBOXES])} mailbox(es), "
                  f"{len(found[reports.ONEDRIVES])} OneDrive(s), {len(found[reports.SITES])} site(s)); SharePoint's "
                  f"budget for {licences} licence(s): {limits.sharepoint_units_per_minute} resource units a minute; "
                  f"a request's answer time here: {limits.latency_s * 1000:.0f} ms; {limits.workers} items at once per "
                  "worker process (the workers parameter). Teams messages and OneNote pages are not in the usage "
                  "reports and are not forecast."))


def dns_ttls(phase: Phase) -> Report:
    """The cutover's DNS as mail will live it, per custom domain: the TTLs (:func:`ttls`), then the window
    (:func:`mail_window`)."""
    return each_domain(phase, lambda view: ttls(view).add(mail_window(view)))


def mail_window(phase: Phase) -> Report:
    """What senders will meet between phases 20 and 30, said now: the holding MX asked (a host that would bounce
    the mail, or does not answer, is named here; phase 20 refuses it), or the fallback to the domain's address."""
    if phase.downtime().get("mail_down") is not None:
        return Report()
    try:
        ns, _ = phase.dns()
        plan = mailwindow.plan_window(ns, phase.params.domain, phase.params.holding_mx, phase.endpoints.smtp_hosts)
    except mailwindow.HoldingMxRefused as exc:
        return Report().banner("fail", f"{exc.one_line()} (phase 20 refuses to start until it answers 4xx)")
    except DnsError:
        return Report()
    report = Report()
    for level, text in plan.lines():
        report.banner(level, text)
    return report


def ttls(phase: Phase) -> Report:
    """The TTLs of the records the cutover changes, read at the authoritative servers and remembered (the first
    seen is the one phase 30 gives back); those above 5 minutes are lowered (``dns_lower_ttl: true``, with the
    rfc2136 or lexicon provider, behind the typed confirmation) or the exact change is shown for the admin."""
    domain = phase.params.domain
    if phase.downtime().get("mail_down") is not None:
        return Report().text("The cutover has begun (phase 20 removed the old records): the TTLs are phase 30's now.")
    try:
        ns, provider = phase.dns()
        plan = dnsttl.observe(ns, domain, phase.domain_state, phase.ttl_scale())
    except DnsError as exc:  # the snapshot above says the same; phase 20 reads the TTLs again before it starts
        return Report().banner("warn", f"the TTLs of {domain}'s records could not be read: {exc.one_line()} Phase 20 "
                                       "reads them again and starts only once the MX's old TTL has run out.")
    phase.save_table("dns-ttls" + _suffix(phase), plan.table)
    report = Report().table(plan.table, f"TTLs of {domain}'s cutover records at the authoritative servers")
    report.text(f"A resolver may keep a record for its TTL: mail follows a removed MX only that long after phase 20. "
                f"Records above {dnsttl.LOW} s are lowered to it at least one old TTL before phase 20, which starts "
                "only once the MX's old TTL has run out (`ttl_override` starts it anyway, with the reason recorded).")
    if not plan.to_lower:
        return report.banner("ok", f"every cutover record has a TTL of {dnsttl.LOW} s or less")
    if not phase.params.dns_lower_ttl or provider.name == "manual" or phase.dry_run:
        why = "dry run" if phase.dry_run else ("the manual provider" if provider.name == "manual" else
                                               "dns_lower_ttl is false")
        lines = pd.DataFrame({"change": dnsttl.lower(ManualProvider(), plan, phase.domain_state)})
        return report.text(f"Nothing was lowered ({why}).").table(lines, "The change to make at your DNS host").banner(
            "warn", "phase 20 refuses to start until the MX's old TTL has run out after it was lowered (a later run "
                    "of this phase sees the change and remembers since when)")
    gate = phase.confirm_gate(f"lower the TTL of {len(plan.to_lower)} DNS record set(s) of {domain} to "
                              f"{dnsttl.LOW} s", plan=report)
    gate.wait()
    gate.require()
    notes = dnsttl.lower(provider, plan, phase.domain_state)
    after = dnsttl.observe(ns, domain, phase.domain_state, phase.ttl_scale())
    phase.save_table("dns-ttls" + _suffix(phase), after.table)
    return report.text("; ".join(notes)).table(after.table, "After lowering").banner(
        "ok", f"lowered; phase 20 may start from {max(after.table['old TTL runs out (UTC)'])} (UTC)")


def dns_snapshot(phase: Phase) -> Report:
    """Every record of each custom domain the runbook can see, kept in the state folder for phase 90 (and the way
    back). Taken anew on every run of phase 00 until phase 20 starts removing records; from then on the first one
    stands."""
    return each_domain(phase, _dns_snapshot)


def _dns_snapshot(phase: Phase) -> Report:
    domain = phase.params.domain
    kept = dnssnapshot.load(phase.domain_state)
    frozen = kept is not None and phase.downtime().get("mail_down") is not None
    if frozen:
        table = kept
        title = f"DNS of {domain} before the cutover (taken before phase 20 began; kept as it was)"
    else:
        try:
            ns, _ = phase.dns()
            table = dnssnapshot.take(ns, domain)
        except DnsError as exc:  # the readiness verdict below says what else is wrong; this step only reports
            return Report().banner("warn", f"the DNS of {domain} could not be read, so no snapshot was taken: "
                                           f"{exc.one_line()} Phase 90 needs one to check the records that are "
                                           "not Microsoft 365's: rerun this phase before phase 20.")
        dnssnapshot.save(phase.domain_state, table)
        title = f"DNS of {domain} now, before the cutover: phase 90 checks that what is yours stays so"
    phase.save_table("dns-snapshot" + _suffix(phase), table)
    report = Report().add(phase.dns_facts()).table(table, title)
    yours = int((table["owner"] == dnssnapshot.YOURS).sum())
    return report.text(f"{yours} record(s) are not Microsoft 365's: the cutover never touches them. Microsoft 365's "
                       "records leave with phase 20 and come back, the new tenant's, with phase 30.")


def _suffix(phase: Phase) -> str:
    """A table's name suffix for a domain of ``also_domains`` (the migration's own domain keeps the plain name)."""
    return "" if phase.domain_state == phase.state_dir else f"-{phase.params.domain}"


def kept_dns_check(phase: Phase) -> Check:
    """Every record of each custom domain that is not Microsoft 365's (phase 00's snapshot: SPF, DMARC, a web host,
    a mail filter, CAA, ...) still served as it was: the cutover must not have touched it. A record that changed or
    vanished is named; only the admin can put it back."""
    check = Check("DNS records kept")
    for view in phase.domain_views():
        _kept_dns(view, check)
    return check


def _kept_dns(phase: Phase, check: Check) -> None:
    snapshot = dnssnapshot.load(phase.domain_state)
    if snapshot is None:
        check.add(phase.params.domain, 1, 0, missing=1,
                  detail="no snapshot of the domain's DNS from before the cutover: rerun phase 00 before phase 20")
        return
    ns, _ = phase.dns()
    for row in dnssnapshot.compare(ns, snapshot):
        ok = row["status"] == "kept"
        check.add(f"{row['type']} {row['name']} {row['value']}", 1, int(ok), missing=int(not ok),
                  detail="" if ok else f"{row['status']}: restore it at your DNS host")



@reconciles("DNS records kept", rerun="")  # only the admin can put a record back at the DNS host
def kept_dns_reconciled(r: Reads) -> Check:
    return kept_dns_check(r.phase)


def old_exports(phase: Phase, old: Inventory) -> Report:
    """The read-only script that exports what only Exchange Online PowerShell shows of the old tenant (who may act
    for whom in its mailboxes, its groups' delivery settings), written now, before phase 20 renames anyone: phases
    30 and 60 map and set what it lists. Run it any time before phase 30; it changes nothing."""
    people = old.raw.get("people") or {}
    boxes = [str(i) for u, i, lic in zip(old.users["userPrincipalName"], old.users["id"], old.users["licences"],
                                         strict=True)  # every mailbox: a licensed person's, or a shared or room one
             if str(lic or "").strip() or (people.get(str(u).lower()) or {}).get("purpose") in ("shared", "room",
                                                                                                "equipment")]
    folder = folder_of(phase.state_dir)
    step = ManualStep(OLD_EXPORT, f"export the rights of {len(boxes)} mailbox(es) and the groups' delivery settings "
                                  "(read-only)",
                      [f"Connect-ExchangeOnline -Organization {ps_quote(old.initial_domain)}",
                       *mailboxrights.export_commands(folder, "old", boxes),
                       *groupdelivery.export_commands(folder, "old")], check=f"old-*.csv in {folder}")
    path = write_script(phase.folder / f"manual-old-tenant-export{SCRIPT_SUFFIX}",
                        "Exchange Online PowerShell, in the old tenant (read-only: it changes nothing)", (), [step],
                        phase.id, phase.run_id)
    return Report().text(f"Who may act for whom in a mailbox (FullAccess, Send As, Send on Behalf) and a group's "
                         f"delivery settings (mail from outside, new members subscribed) have no Graph API an "
                         f"application may use: run the read-only script `{path.name}` in the old tenant before "
                         f"phase 30 (it writes {folder}/old-*.csv, which phases 30 and 60 map and set).")
