"""Phase 80: every mapped user's OneNote notebooks, rebuilt in their new OneDrive through the OneNote API, signed
in as a person on each side (OneNote refuses app-only tokens). Counted per notebook and section on both sides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import DeltaLinks, Outcome, Workload
from ..report import Report, ShowsItself
from ..runbook import permissions
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.drives import DriveClient
from ..services.graph import GraphClient
from ..services.onenote import PER_HOUR, PER_MINUTE, OneNoteClient, onenote_pacer
from ..workloads.inventory import Inventory
from ..workloads.onenote import (
    NotebookAccess,
    NotebookPages,
    NotebookStructure,
    NoteCopy,
    find_owners,
    key,
    note_parts,
)
from ..workloads.users import prestage_upn
from .checks import Check, Reads, reconciles
from .common import StepResult, Steps, apply_workloads, plan_workloads


@dataclass
class Notes:
    copy: NoteCopy
    access: NotebookAccess
    structure: NotebookStructure
    pages: NotebookPages

    @property
    def workloads(self) -> tuple[Workload, ...]:
        """What this phase declares: planned together, applied in this order."""
        return (self.access, self.structure, self.pages)


def sign_in_people(phase: Phase) -> tuple[GraphClient, GraphClient]:
    """A person's sign-in on each side (device code), paced under OneNote's limits; stops before anything is
    read when a sign-in lacks the Notes permission."""
    old = phase.sign_in_person("source", pacer=onenote_pacer())
    new = phase.sign_in_person("target", pacer=onenote_pacer())
    granted = {side: phase.signins[f"{side} (person)"].granted() for side in ("source", "target")}
    permissions.require(permissions.check(granted, {"source": "delegated", "target": "delegated"},
                                          phases=["80_onenote"]), phase.id)  # phase 90 reads notebooks too
    return old, new


def connect(phase: Phase, old_app: GraphClient, new_app: GraphClient, old_person: GraphClient,
            new_person: GraphClient, src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> Notes:
    """The users whose OneDrive holds notebooks, and what each sign-in reaches of them."""
    ids = {str(u).lower(): i for u, i in zip(src.users["userPrincipalName"], src.users["id"], strict=True)}
    new_drives = DriveClient(new_app)
    pairs = []
    for _, row in moving.iterrows():
        target = str(row["target_upn"])
        if not new_drives.user_exists(target) and new_drives.user_exists(prestage_upn(target, tgt.initial_domain)):
            target = prestage_upn(target, tgt.initial_domain)  # pre-staged, not renamed yet
        pairs.append((str(row["source_upn"]), ids.get(str(row["source_upn"]).lower(), str(row["source_upn"])),
                      target))
    old, new = OneNoteClient(old_person), OneNoteClient(new_person)
    owners = find_owners(DriveClient(old_app), new_drives, old, new, pairs)
    accounts = {"old": phase.signed_in_as("source (person)"), "new": phase.signed_in_as("target (person)")}
    copy = NoteCopy(old, new, owners, accounts)
    return Notes(copy, NotebookAccess(copy), NotebookStructure(copy), NotebookPages(copy))


@dataclass(repr=False)
class NotesPlan(ShowsItself):
    owners: pd.DataFrame
    outcomes: list[Outcome]
    requests: int

    def report(self) -> Report:
        report = Report().table(self.owners, "Per user: the notebooks in the old OneDrive and what the sign-ins reach")
        for outcome in self.outcomes:
            report.add(outcome.report())
        hours = self.requests / PER_HOUR
        return report.text(
            f"OneNote allows one app {PER_MINUTE} requests a minute and {PER_HOUR} an hour per signed-in person, "
            f"and says nothing when it throttles, so this phase paces itself. This pass needs about "
            f"{self.requests} requests: about {hours:.1f} hour(s) at that pace. Pages keep their title, text, "
            "images, attached files, creation time and order; a sub-page's indentation cannot be set through the "
            "API (such pages are listed with their level in the ledger).")


def per_owner(notes: Notes) -> pd.DataFrame:
    rows = []
    for owner in notes.copy.owners:
        rows.append({"user": owner.source_name, "new user": owner.target_name,
                     "notebooks": ", ".join(owner.packages),
                     "old side": "reached" if not owner.unreached() else
                     f"not reached: {', '.join(owner.unreached())} (a Set-SPOUser step, or the owner signs in here)",
                     "new side": "writable" if owner.writable else
                     ("no OneDrive yet (phase 70 asks for it)" if not owner.new_site else "not writable (a Set-SPOUser step)")})
    return pd.DataFrame(rows, columns=["user", "new user", "notebooks", "old side", "new side"])


def plan(phase: Phase, notes: Notes) -> NotesPlan:
    outcomes = plan_workloads(phase, notes.workloads)
    table = per_owner(notes)
    phase.save_table("onenote-plan", table)
    todo = [r for r in outcomes[-1].rows if r["action"] != "done before"]
    requests = 4 * len(todo) + 2 * len(outcomes[1].rows) + len(notes.pages.sections)
    return NotesPlan(table, outcomes, requests)


def counts(notes: Notes) -> pd.DataFrame:
    """Pages per section, old and new, and whether their order is the same."""
    rows = []
    for owner, parts, old_pages in notes.pages.sections:
        path = "/".join(n for _, n in parts)
        found = notes.copy.tree(owner).get(key(note_parts(parts)))  # the names as the new tenant took them
        new_pages = notes.copy.new.pages(owner.target_name, found[1]) if found else []
        old_titles = [p.get("title") for p in old_pages]
        new_titles = [p.get("title") for p in new_pages]
        rows.append({"user": owner.source_name, "notebook": parts[0][1], "section": "/".join(n for _, n in parts[1:]),
                     "old": len(old_pages), "new": len(new_pages), "missing": max(0, len(old_pages) - len(new_pages)),
                     "order kept": "yes" if old_titles == new_titles else "no", "path": path})
    return pd.DataFrame(rows, columns=["user", "notebook", "section", "old", "new", "missing", "order kept", "path"])


def apply(phase: Phase, notes: Notes, gate: ConfirmGate) -> StepResult:
    return apply_workloads(phase, gate, "copied", "notebook item(s)", lambda steps: copy_and_count(phase, notes, steps))


def copy_and_count(phase: Phase, notes: Notes, steps: Steps) -> dict[str, Any]:
    """Phase 80's apply: the declared workloads, then pages per section counted on both sides, order compared."""
    report = steps.report
    for workload in notes.workloads:
        steps.run(workload)
    table = counts(notes)
    phase.save_table("onenote-counts", table)
    shown = table.drop(columns=["path"])
    report.table(shown, "Pages per section, old and new")
    per = shown.groupby(["user", "notebook"], as_index=False)[["old", "new", "missing"]].sum() if not table.empty \
        else shown
    report.bars(per, "notebook", ["new", "missing"], "Pages per notebook in the new tenant, and missing", "pages")
    unreached = [o.source_name for o in notes.copy.owners if not o.ready]
    if unreached:
        report.banner("warn", f"not copied yet: the notebooks of {', '.join(unreached)}: run the manual script "
                              "(Set-SPOUser), then rerun this phase")
    summary: dict[str, Any] = {
        "users with notebooks": len(notes.copy.owners), "users copied": len(notes.copy.ready()),
        "pages old": int(table["old"].sum()) if not table.empty else 0,
        "pages new": int(table["new"].sum()) if not table.empty else 0,
        "sections in a different order": int((table["order kept"] == "no").sum()) if not table.empty else 0,
        "paced seconds": round(sum(c.graph.pacer.waited for c in (notes.copy.old, notes.copy.new)
                                   if c.graph.pacer is not None), 1)}
    return summary


def notes_check(phase: Phase, old: GraphClient, new: GraphClient, old_person: GraphClient, new_person: GraphClient,
                src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> Check:
    check = Check("notebooks")
    notes = connect(phase, old, new, old_person, new_person, src, tgt, moving)
    for owner in notes.copy.owners:
        if not owner.ready:
            check.add(owner.source_name, len(owner.packages), 0, missing=len(owner.packages),
                      detail="the signed-in people cannot reach both sides (phase 80 writes the steps)")
    list(notes.pages.list(DeltaLinks(None, notes.pages.kind)))  # the old sections and their pages
    for _, row in counts(notes).iterrows():
        check.add(f"{row['user']}: {row['path']}", int(row["old"]), int(row["new"]), missing=int(row["missing"]),
                  extra=max(0, int(row["new"]) - int(row["old"])), mismatched=int(row["order kept"] == "no"),
                  detail="pages in another order" if row["order kept"] == "no" else "")
    return check



@reconciles("notebooks")
def notes_reconciled(r: Reads) -> Check:
    return notes_check(r.phase, r.old, r.new, r.old_person, r.new_person, r.src, r.tgt, r.moving)
