"""What several phases share: the inventories, the user mapping, a phase's step result, the early request for
new OneDrives (phases 10 and 30), and the per-folder reconciliation of drives (phases 50 and 70)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import pandas as pd

from ..engine import ItemsFailed, Outcome, Workload
from ..errors import TenantmoveError
from ..report import Report, ShowsItself
from ..runbook.context import Phase
from ..runbook.merge_plan import resolution_for
from ..runbook.permissions import satisfied_by
from ..services.drives import DriveClient
from ..services.graph import GraphClient
from ..workloads import inventory, mapping
from ..workloads.files import DriveCopy, reconcile
from ..workloads.inventory import Inventory
from ..workloads.merge import Resolution
from ..workloads.onedrive import OneDrives, find_pairs
from ..workloads.users import find_user, prestage_upn


class StepFailed(TenantmoveError):
    """A step finished with failures; what failed is shown above and kept in the ledger."""

    def __init__(self, message: str, *, where: str = "", hint: str = "", report: Report | None = None) -> None:
        super().__init__(message, where=where, hint=hint)
        self.report = report


@dataclass
class StepResult:
    """What a step did: a report to show and a summary for run.json."""

    report: Report
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the text/plain form in a saved notebook
        return str(self.report)

    def _repr_html_(self) -> str:
        return self.report._repr_html_()

    def __str__(self) -> str:
        return str(self.report)


def dry_run_result(what: str) -> StepResult:
    """What a content phase's apply shows in a dry run: nothing changed, and how to apply."""
    return StepResult(Report().banner("warn", f"dry run: nothing was {what} (set dry_run: false and confirm to "
                                              "apply)"), {"result": "dry run"})


def plan_workloads(phase: Phase, workloads: Iterable[Workload]) -> list[Outcome]:
    """A phase's plan: each workload it declares, as a dry run (nothing changes, whatever the parameters say)."""
    return [phase.engine().run(w, dry_run=True) for w in workloads]


def apply_workloads(phase: Phase, gate: Any, not_done: str, failed_what: str,
                    body: Callable[[Steps], dict[str, Any]]) -> StepResult:
    """The one template of a phase's apply. In a dry run (:attr:`Phase.dry_run`) nothing runs and the result says
    nothing was ``not_done``. Otherwise the confirmation is required, ``body`` runs the phase's workloads through
    the :class:`Steps` it is given (each item has its turn; failures are held to the end) and adds its own tables
    to ``steps.report``; its summary joins the workloads' counts, and the phase fails at the end if any item
    did (``failed_what`` names them)."""
    if phase.dry_run:
        return dry_run_result(not_done)
    gate.require()
    steps = Steps(phase, gate, Report())
    summary = body(steps)
    steps.finish(failed_what)
    return StepResult(steps.report, {**summary, **steps.summary()})


class Steps:
    """A content phase's workloads run one after another, each item having its turn: a workload whose items
    fail stops nothing after it. Each outcome goes into the report; ``finish`` raises once, at the end, if
    anything failed."""

    def __init__(self, phase: Phase, gate: Any, report: Report) -> None:
        self.phase, self.gate, self.report = phase, gate, report
        self.outcomes: list[Outcome] = []
        self.failed = 0

    def run(self, workload: Workload) -> Outcome:
        try:
            outcome = self.phase.run(workload, self.gate)
        except ItemsFailed as exc:
            outcome = exc.outcome
            self.failed += len(outcome.failed)
        self.outcomes.append(outcome)
        self.report.add(outcome.report())
        return outcome

    def summary(self) -> dict[str, Any]:
        return {k: v for o in self.outcomes for k, v in o.summary().items()}

    def finish(self, what: str) -> None:
        if self.failed:
            named = [f"{o.title}: {r['name'] or r['key']}" for o in self.outcomes for r in o.failed]
            shown = "; ".join(named[:3]) + (f" (and {len(named) - 3} more)" if len(named) > 3 else "")
            raise StepFailed(f"{self.failed} {what} failed ({shown}); everything else was done", where=self.phase.id,
                             hint="read the reasons above and rerun the phase: only what failed or changed is done "
                                  "again", report=self.report)


_RESOLUTIONS: WeakKeyDictionary[Phase, Resolution | None] = WeakKeyDictionary()


def merge_resolution(phase: Phase) -> Resolution | None:
    """What the merge this migration is part of changes in it (None for a migration of one old tenant); read, and
    checked against the mapping, once per phase."""
    if phase not in _RESOLUTIONS:
        _RESOLUTIONS[phase] = resolution_for(phase.params, phase.state_dir)
    return _RESOLUTIONS[phase]


def load_inventories(phase: Phase, new: GraphClient) -> tuple[Inventory, Inventory]:
    """The old tenant as phase 00 saw it (state folder), as the new tenant receives it (a merge's new names for
    its groups), and the new tenant as it is now."""
    src = phase.load_inventory("source")
    res = merge_resolution(phase)
    if res is not None:
        src = res.inventory(src)
    tgt = inventory.collect(new)
    phase.save_inventory("target", tgt)
    return src, tgt


@dataclass(repr=False)
class UserMapping(ShowsItself):
    path: Path
    rows: pd.DataFrame
    moving: pd.DataFrame
    generated: bool

    def report(self) -> Report:
        report = Report()
        if self.generated:
            report.banner("warn", f"generated the user mapping {self.path}: review it (edit target_upn, "
                                  "usage_location, licences, or action: skip, guest, shared, room or equipment) and rerun this "
                                  "phase if you change it")
        guests, boxes = mapping.guests(self.rows), mapping.resources(self.rows)
        return report.table(self.moving, f"User mapping ({len(self.moving)} users move, {len(boxes)} shared, room "
                                         f"or equipment mailbox(es) move in phase 60, {len(guests)} guest(s) are "
                                         f"invited, {len(self.rows) - len(self.moving) - len(guests) - len(boxes)} "
                                         f"skipped) — {self.path}")



def mapping_path(phase: Phase) -> Path:
    return Path(phase.params.user_mapping) if phase.params.user_mapping else phase.state_dir / "users.csv"


def _rows(phase: Phase, pick: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    path = mapping_path(phase)
    return pick(mapping.read(path)) if path.is_file() else pd.DataFrame(columns=mapping.COLUMNS)


def guest_rows(phase: Phase) -> pd.DataFrame:
    """The mapping's guests (action ``guest``), as :func:`user_mapping` validated them earlier in the phase; in a
    merge, not those who are another migration's people (they are members there, never guests)."""
    rows = _rows(phase, mapping.guests)
    res = merge_resolution(phase)
    if res is None or not res.members_elsewhere or rows.empty:
        return rows
    return rows[~rows["source_upn"].str.lower().isin(res.members_elsewhere)].reset_index(drop=True)


def merged_rows(phase: Phase) -> pd.DataFrame:
    """The mapping's people another migration of the merge makes (action ``merge``): this one adds their
    memberships and, in phase 60, their mailbox."""
    return _rows(phase, mapping.merged)


def elsewhere_rows(phase: Phase) -> pd.DataFrame:
    """In a merge, the people another migration makes, as mapping rows (source_upn, target_upn): merged people, and
    guests who are people there; empty otherwise."""
    res = merge_resolution(phase)
    rows = [{"source_upn": o, "target_upn": n} for o, n in (res.members_elsewhere if res is not None else {}).items()]
    return pd.concat([merged_rows(phase)[["source_upn", "target_upn"]],
                      pd.DataFrame(rows, columns=["source_upn", "target_upn"])], ignore_index=True)


def known_people(phase: Phase, moving: pd.DataFrame) -> pd.DataFrame:
    """Everyone of the old tenant the new tenant knows, as mapping rows (source_upn, target_upn): the moving people,
    the guests invited again, and (a merge) the people another migration makes. Whoever shares with, mentions or
    grants to one of them is mapped to them."""
    return pd.concat([moving[["source_upn", "target_upn"]], guest_rows(phase)[["source_upn", "target_upn"]],
                      elsewhere_rows(phase)], ignore_index=True)


def people_elsewhere(phase: Phase, new: GraphClient) -> tuple[dict[str, str], list[str]]:
    """Old UPN -> new tenant id of the people another migration of the merge makes (merged people, and guests who
    are people there), and the merged people not made yet (a guest's other migration may come later: the merge
    plan's order says when)."""
    res = merge_resolution(phase)
    if res is None:
        return {}, []
    found, missing = {}, set()
    for old, new_upn in {**res.merged, **res.members_elsewhere}.items():
        user = find_user(new, new_upn)
        if user is not None:
            found[old] = str(user["id"])
        elif old in res.merged:
            missing.add(new_upn)
    return found, sorted(missing)


def resource_rows(phase: Phase) -> pd.DataFrame:
    """The mapping's shared, room and equipment mailboxes, as :func:`user_mapping` validated them."""
    return _rows(phase, mapping.resources)


def user_mapping(phase: Phase, src: Inventory, tgt: Inventory) -> UserMapping:
    """Generate the mapping if it does not exist yet, then validate it; the rows to move."""
    path = mapping_path(phase)
    generated = not path.is_file()
    if generated:
        mapping.write(mapping.generate(src, phase.params.domains, tgt.initial_domain), path)
    df = mapping.read(path)
    # seats already taken by users an earlier run moved are theirs: count them as available again
    moved = {str(i.name).lower() for i in phase.ledger().items("user", ["done"])}
    held: dict[str, int] = {}
    for _, r in df.iterrows():
        if r["source_upn"].lower() in moved:
            for part in str(r.get("licences", "")).split():
                held[part] = held.get(part, 0) + 1
    licences = tgt.licences.assign(available=[int(a) + held.get(p, 0) for p, a in
                                              zip(tgt.licences["skuPartNumber"], tgt.licences["available"], strict=True)])
    try:
        moving = mapping.validate(df, str(path), src, phase.params.domains, tgt.initial_domain, licences)
    except mapping.MappingError as exc:
        exc.report = Report().table(exc.frame(), f"Problems in {path}")
        raise
    res = merge_resolution(phase)
    if res is not None:  # the merge's suffix rule: new UPNs for people whose UPN meets another migration's
        moving = res.moving(moving)
        if phase.id[:2] >= CONTENT:
            content_needs_everyone(phase, res, tgt)
    phase.save_table("user-mapping", df)
    return UserMapping(path, df, moving, generated)


CONTENT = "40"  # the phases from here on move content that names people (shares, mentions, authors, members)


def content_needs_everyone(phase: Phase, res: Resolution, tgt: Inventory) -> None:
    """A content phase of a merge starts only once every person another migration makes is in the new tenant:
    what it moves names them (a share, a mention, a message's author), and some of it (Teams' imported messages)
    cannot be changed once moved."""
    there = {str(u).lower() for u in tgt.users["userPrincipalName"]}
    missing = sorted({n for n in {**res.merged, **res.members_elsewhere}.values() if n.lower() not in there})
    if missing:
        raise StepFailed(f"{', '.join(missing)} is not in the new tenant yet, and this phase's content names them",
                         where=phase.id, hint="run phase 30 of every migration of the merge first (the merge plan's "
                                              "order: each one's cutover, then each one's content)")


ONEDRIVES_LATER = ("The new OneDrives are not looked at here (this sign-in has no Files.Read.All): phase 70 "
                   "requests the missing ones.")


def request_onedrives(phase: Phase, client: GraphClient, moving: pd.DataFrame, tgt: Inventory) -> Outcome | None:
    """Each moving user's new OneDrive, requested early if missing (a manual command: the service creates it
    later, by a timer job, and phase 70 needs it). None when this sign-in may not look at files: an early
    request is a convenience, phase 70 makes it anyway."""
    if not satisfied_by("Files.Read.All", phase.granted().get("target", set())):
        return None
    drives = DriveClient(client)
    pairs = find_pairs(None, drives, moving, also=lambda upn: [prestage_upn(upn, tgt.initial_domain)])
    return phase.run(OneDrives(drives, pairs))


def reconciliation(phase: Phase, copy: DriveCopy, report: Report, name: str) -> pd.DataFrame:
    """Files and bytes per folder, old against new, from full listings of both sides (saved to the run)."""
    folders = pd.DataFrame(reconcile(copy), columns=["drive", "folder", "old files", "new files",
                                                     "old bytes (not Office)", "new bytes (not Office)",
                                                     "Office files", "verdict"])
    phase.save_table(name, folders)
    differing = folders[folders["verdict"] == "MISMATCH"]
    if differing.empty:
        report.banner("ok", f"{len(folders)} folder(s) reconciled: the same files and bytes on both sides "
                            "(Office documents by number: SharePoint rewrites them)")
    else:
        report.banner("warn", f"{len(differing)} of {len(folders)} folder(s) differ between the old and the new drive")
        report.table(differing, "Folders that differ (all folders: the run folder's table)")
    return folders
