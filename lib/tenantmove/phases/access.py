"""Who may open what, and who made it, for the phases that copy drives and lists (50's libraries and lists, 70's
OneDrives): the sharing workload over the phase's pairs of drives, run after their files; the link map copied
into the run folder with a file per owner; the access matrix shown; phase 90's comparison of the matrices, which
reopens each object that differs; and the authorship of files and list items, through SharePoint's REST API
where it takes the runbook's tokens, by PnP script otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ..report import Report
from ..runbook.context import Phase
from ..services.sprest import SharePointRest
from ..workloads.authorship import Authorship
from ..workloads.files import DriveCopy
from ..workloads.inventory import Inventory
from ..workloads.onedrive import Pair
from ..workloads.sharing import LINK_MAP, Grantees, LinkMap, Sharing, grantees, matrix
from ..workloads.siteaccess import SiteAccess
from ..workloads.siteaccess import matrix as site_matrix
from .checks import Check
from .common import Steps, known_people

PASTED = ("A link pasted into a document, a mail or a chat still points at the old tenant and cannot be rewritten "
          "from here: the link map (old URL -> new URL) and each owner's list of their changed links are in this "
          "phase's folder (`link-map.csv`, `links/<owner>.csv`) for them to forward.")


def holders(phase: Phase, src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> Grantees:
    """The old tenant's people, guests and groups as the new tenant knows them: the mapping's (and a merge's people
    another migration makes), groups by nickname."""
    return grantees(src, tgt, known_people(phase, moving))


def sharing_for(phase: Phase, copy: DriveCopy, src: Inventory, tgt: Inventory, moving: pd.DataFrame, kind: str,
                owner_of: Callable[[Pair], str] | None = None) -> Sharing:
    """The sharing workload over ``copy``'s drives."""
    return Sharing(copy, holders(phase, src, tgt, moving), LinkMap(phase.state_dir / LINK_MAP), kind=kind,
                   owner_of=owner_of)


def site_access(phase: Phase, steps: Steps, workload: SiteAccess) -> dict[str, Any]:
    """Run the site groups and permissions after the lists; show who holds what per site, and who does not move."""
    outcome = steps.run(workload)
    report: Report = steps.report
    if not workload.readable:
        report.text("The sites' SharePoint groups and permissions were not read: SharePoint's REST API needs both "
                    "tenants' apps to sign in with a certificate (certificate_file). Each site is a manual item.")
        return {"site objects with access of their own": 0, "site access differing": 0}
    table = site_matrix(workload)
    phase.save_table("site-access", table)
    differing = table[table["verdict"] != "same"]
    for site, rows in table.groupby("site", sort=True):
        report.table(rows.drop(columns=["site", "key"]), f"Who holds what in {site}: its SharePoint groups' members, "
                                                          "and each object with permissions of its own, old and new")
    if not differing.empty:
        report.banner("warn", f"{len(differing)} holder(s) of site access differ from the old tenant: the PnP script "
                              f"`{outcome.script.name if outcome.script else ''}` sets them; rerun this phase after it")
    left = pd.DataFrame([{"item": i.name, "not moving": i.detail["left"]} for i in phase.ledger().items(workload.kind)
                         if (i.detail or {}).get("left")], columns=["item", "not moving"])
    phase.save_table("site-access-not-moving", left)
    if not left.empty:
        report.table(left, "Site access held by people the mapping does not move: given to nobody in the new site "
                           "(map them, or give it to whoever took over, and rerun)")
    return {"site objects with access of their own": int(table["key"].nunique()),
            "site access differing": len(differing), "site access held by people not moving": len(left),
            "resource units for site access reads": workload.units()}


def site_access_check(workload: SiteAccess) -> Check:
    """Phase 90: each site's groups and objects with access of their own, holder by holder; a difference reopens the
    item (its rerun writes the PnP commands again)."""
    check = Check("site access")
    if not workload.readable:
        check.add("(not compared)", 0, 0, detail="SharePoint's REST API needs both apps' certificates (certificate_"
                                                 "file) to read site groups and permissions; the ledger holds the "
                                                 "admin's word per site")
        return check
    return matrix_check(check, site_matrix(workload), "site", workload.kind)


def carry(phase: Phase, steps: Steps, workload: Sharing, where: str) -> dict[str, Any]:
    """Run the sharing after the files; show the access matrix and where the changed links are."""
    steps.run(workload)
    workload.links.write_run_copy(phase.folder)
    table = matrix(workload)
    phase.save_table(f"{workload.kind}-access", table)
    report: Report = steps.report
    differing = table[table["verdict"] != "same"]
    report.table(table.drop(columns=["key"]), f"Access to each shared object in {where}: who holds which role, old and "
                                              "new (the mapping names the old holders)")
    if not differing.empty:
        report.banner("warn", f"{len(differing)} holder(s) of access differ from the old tenant: see the items above "
                              "for the reason and the fix")
    report.text(PASTED)
    return {"shared objects": int(table["key"].nunique()), "access differing": len(differing),
            "permission calls": workload.calls, "resource units for permissions, old tenant": workload.units("old"),
            "resource units for permissions, new tenant": workload.units("new"),
            "links mapped": len(workload.links.rows())}


def access_check(area: str, workload: Sharing) -> Check:
    """Phase 90: each shared object's holders and roles on both sides; a difference names the holder and reopens
    the object (its rerun sets it right, taking away what the old tenant did not give)."""
    check = Check(area)
    return matrix_check(check, matrix(workload), "drive", workload.kind)


def matrix_check(check: Check, table: pd.DataFrame, place: str, kind: str) -> Check:
    """An access matrix (``place``, object, who, old, new, verdict, key) as a check: per object, who differs and
    how; each object that differs reopens its item of ``kind``."""
    for (where, obj, key), rows in table.groupby([place, "object", "key"], sort=True):
        bad = rows[rows["verdict"] != "same"]
        why = "; ".join(f"{r['who']}: {r['verdict']}" for _, r in bad.iterrows())
        if why:
            check.reopen.append((kind, "key", str(key), f"{where}: {obj}: {why}"))
        check.add(f"{where}: {obj}", int((rows["old"] != "").sum()), int((rows["new"] != "").sum()),
                  missing=int((bad["new"] == "").sum()), extra=int((bad["old"] == "").sum()),
                  mismatched=int(((bad["old"] != "") & (bad["new"] != "")).sum()), detail=why)
    return check


def authored(phase: Phase, steps: Steps, make: Callable[[SharePointRest | None], Authorship], what: str) -> dict[str, Any]:
    """Run an authorship workload (``make(rest)``: rest None when SharePoint will not take the runbook's tokens, so
    the admin's PnP script does it); name the items whose author or editor does not move."""
    rest = phase.sharepoint("target")
    why_not = rest.usable()
    outcome = steps.run(make(None if why_not else rest))
    report: Report = steps.report
    if why_not and outcome.script:
        report.text(f"Who made and last changed the {what} is set by the PnP script `{outcome.script.name}`: "
                    f"{why_not}.")
    left = pd.DataFrame([{"item": i.name, "did not move": i.detail["left"]} for i in phase.ledger().items(outcome.kind)
                         if (i.detail or {}).get("left")], columns=["item", "did not move"])
    phase.save_table(f"{outcome.kind}-not-moving", left)
    if not left.empty:
        report.table(left, f"The {what} made or last changed by someone the mapping does not move: the new one shows "
                           "the migration account there (map the person and rerun to carry them)")
    return {f"{what} by people not moving": len(left)}
