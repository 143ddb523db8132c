"""Phase 70: each mapped user's old OneDrive into their new one — the OneDrives first (a missing one is
requested with ``Request-SPOPersonalSite`` and waited for), then folders, then files, each proven by hash."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine import Item, Outcome, Workload
from ..engine.workload import REMOVED
from ..report import Report, ShowsItself
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.drives import DriveClient
from ..services.graph import GraphClient
from ..workloads.authorship import FileAuthorship, mapped_people
from ..workloads.files import DriveCopy, DriveFiles, DriveFolders
from ..workloads.inventory import Inventory
from ..workloads.onedrive import OneDrives, Pair, find_pairs
from ..workloads.sharing import Sharing
from ..workloads.users import prestage_upn
from .access import PASTED, access_check, authored, carry, sharing_for
from .checks import Check, Reads, folder_check, reconciles, workload_check
from .common import StepResult, Steps, apply_workloads, plan_workloads, reconciliation

NOT_SETTABLE = ("Graph cannot set who created or last changed a file (Author/Editor): they are set after the files "
                "through SharePoint's REST API (an app with a certificate) or by the PnP script, with the created "
                "and modified dates, and read back; someone the mapping does not move keeps the migration account "
                "there, named.")


@dataclass
class Drives:
    """The copy's moving parts: clients, each user's pair of OneDrives, and the four workloads."""

    copy: DriveCopy
    onedrives: OneDrives
    folders: DriveFolders
    files: DriveFiles
    sharing: Sharing
    new_person: Callable[[dict[str, str]], str | None]  # an old author or editor -> their new UPN
    unmapped: list[str] = field(default_factory=list)  # old OneDrives whose owner the mapping does not move

    @property
    def workloads(self) -> tuple[Workload, ...]:
        """What this phase declares: planned together, applied in this order (the new OneDrives first, the
        sharing after the files it is on)."""
        return (self.onedrives, self.folders, self.files, self.sharing)


def connect(phase: Phase, old: GraphClient, new: GraphClient, moving: pd.DataFrame, tgt: Inventory) -> Drives:
    o, n = DriveClient(old), DriveClient(new)
    src = phase.load_inventory("source")
    pairs = find_pairs(o, n, moving, also=lambda upn: [prestage_upn(upn, tgt.initial_domain)],
                       source_ids=dict(zip(src.users["userPrincipalName"], src.users["id"], strict=True)))
    copy = DriveCopy(o, n, pairs, versions=phase.params.file_versions)
    mapped = {p.source_name.lower() for p in pairs}
    unmapped = [u for u in src.users["userPrincipalName"] if u.lower() not in mapped]
    sharing = sharing_for(phase, copy, src, tgt, moving, "drive-sharing")
    return Drives(copy, OneDrives(n, pairs), DriveFolders(copy), DriveFiles(copy), sharing, mapped_people(src, moving),
                  unmapped)


@dataclass(repr=False)
class OneDrivePlan(ShowsItself):
    users: pd.DataFrame
    renames: pd.DataFrame
    notebooks: pd.DataFrame
    outcomes: list[Outcome]
    unmapped: list[str]
    full: list[str]  # drives whose delta link had expired: compared in full this pass
    sharing: dict[str, Any] = field(default_factory=dict)  # the cost of carrying who may open what

    def report(self) -> Report:
        report = Report().table(self.users, "Per user: what this pass copies (the first pass: everything; later "
                                            "passes: what changed)")
        report.table(self.renames, "Names the new tenant refuses, renamed by the documented rule (reversible; "
                                   "in the ledger)")
        report.table(self.notebooks, "OneNote notebooks: left to phase 80 (a notebook is not a folder)")
        for outcome in self.outcomes:
            report.add(outcome.report())
        report.facts("Sharing: who may open what, carried after the files (SharePoint charges 5 resource units "
                     "per permission call)", self.sharing)
        report.text(PASTED)
        if self.full:
            report.text(f"The service no longer knew where the last pass ended for {', '.join(self.full)} (delta link "
                        "expired, 410): compared in full against the ledger; nothing done is copied again.")
        if self.unmapped:
            report.banner("warn", f"{len(self.unmapped)} user(s) of the old tenant are not in the user mapping; "
                                  "their OneDrives are not copied: " + ", ".join(self.unmapped[:10]))
        return report.text(NOT_SETTABLE)


def plan(phase: Phase, drives: Drives) -> OneDrivePlan:
    """The dry run of all three workloads, and the tables an admin decides on."""
    outcomes = plan_workloads(phase, drives.workloads)
    users = per_user(drives)
    renames = pd.DataFrame([{"user": w.scope, "path": w.detail["path"], "new path": w.detail["target_path"],
                             "rule": "; ".join(w.detail["renames"])}
                            for w in drives.folders.listed + drives.files.listed if w.detail.get("renames")],
                           columns=["user", "path", "new path", "rule"])
    notebooks = pd.DataFrame([{"user": u, "notebook": p} for u, p in drives.files.skipped_packages],
                             columns=["user", "notebook"])
    phase.save_table("onedrive-plan", users)
    phase.save_table("onedrive-renames", renames)
    return OneDrivePlan(users, renames, notebooks, outcomes, drives.unmapped,
                        sorted(set(drives.folders.full_comparisons + drives.files.full_comparisons)),
                        drives.sharing.budget())


def per_user(drives: Drives, results: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    rows = []
    files = drives.files.listed
    for pair in drives.copy.pairs:
        mine = [w for w in files if w.scope == pair.scope and w.size is not None]
        folders = [w for w in drives.folders.listed if w.scope == pair.scope]
        row: dict[str, Any] = {
            "user": pair.source_name, "new user": pair.target_name,
            "old OneDrive": "yes" if pair.source else "none (never signed in): nothing to copy",
            "new OneDrive": _target_state(pair), "folders": len(folders), "files": len(mine),
            "bytes": sum(w.size or 0 for w in mine),
            "renamed": sum(1 for w in files + folders if w.scope == pair.scope and w.detail.get("renames"))}
        if results is not None:
            done = results.get(pair.scope, {})
            row.update({"bytes moved": done.get("moved", 0), "bytes left": done.get("left", 0),
                        "failed": done.get("failed", 0)})
        rows.append(row)
    return pd.DataFrame(rows)


def _target_state(pair: Pair) -> str:
    if not pair.target_user_exists:
        return "user missing: run phase 30 first"
    return "ready" if pair.target else "not provisioned yet"


def wait_for_onedrives(phase: Phase, drives: Drives) -> int:
    """Poll with backoff for OneDrives requested but not there yet, up to ``onedrive_wait_seconds``."""
    waiting = [p for p in drives.copy.pairs if p.source and p.target is None and p.target_user_exists]
    deadline = time.monotonic() + phase.params.onedrive_wait_seconds
    delay = 0.5 if phase.params.cloud == "sandbox" else 15.0
    progress = phase.progress("waiting for new OneDrives")
    total = len(waiting)
    while waiting and time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 300.0)
        for pair in list(waiting):
            pair.target = drives.copy.new.user_drive(pair.target_name)
            if pair.target is not None:
                waiting.remove(pair)
        progress(total - len(waiting), total, 0.0)
    return total - len(waiting)


def apply(phase: Phase, drives: Drives, gate: ConfirmGate) -> StepResult:
    return apply_workloads(phase, gate, "copied", "folder(s) or file(s)", lambda steps: copy_and_compare(
        phase, drives, gate, steps))


def copy_and_compare(phase: Phase, drives: Drives, gate: ConfirmGate, steps: Steps) -> dict[str, Any]:
    """Phase 70's apply: the new OneDrives (waited for when requested), their folders and files, then every
    user's bytes and every folder compared."""
    report = steps.report
    provisioned = phase.run(drives.onedrives, gate)
    report.add(provisioned.report())
    if provisioned.manual:
        appeared = wait_for_onedrives(phase, drives)
        if appeared:
            provisioned = phase.run(drives.onedrives, gate)
        report.text(f"{appeared} new OneDrive(s) appeared while waiting; "
                    f"{provisioned.count('manual')} still missing: run `{provisioned.script}` and rerun this phase.")
    steps.run(drives.folders)  # the files still go after a failed folder
    uploaded = {r["key"] for r in steps.run(drives.files).rows if r["action"] in ("created", "updated")}
    files = phase.ledger().items("drive-file")
    users = per_user(drives, bytes_per_user(drives, files))
    phase.save_table("onedrive-results", users)
    report.table(users, "Per user: results")
    report.bars(users, "user", ["bytes moved", "bytes left"], "Bytes per user, moved and left", "bytes")
    folders = reconciliation(phase, drives.copy, report, "onedrive-folders")
    verdicts = pd.Series([str((i.detail or {}).get("verdict", "")) for i in files if i.state == "done"], dtype=str)
    summary = {"OneDrives ready": int((users["new OneDrive"] == "ready").sum()),
               "OneDrives waiting (manual)": provisioned.count("manual"),
               "bytes moved": int(users["bytes moved"].sum()), "bytes left": int(users["bytes left"].sum()),
               "files verified by hash": int(verdicts.str.startswith("verified").sum()),
               "files changed by SharePoint (content compared)": int(verdicts.str.startswith("changed by").sum()),
               "folders reconciled": len(folders), "folders differing": int((folders["verdict"] == "MISMATCH").sum())}
    summary.update(authored(phase, steps, lambda rest: FileAuthorship(drives.copy, drives.new_person, rest,
                                                                       "drive-authorship", uploaded), "OneDrive files"))
    summary.update(carry(phase, steps, drives.sharing, "the new OneDrives"))
    return summary


def bytes_per_user(drives: Drives, files: list[Item]) -> dict[str, dict[str, int]]:
    """From the ledger, over every pass: bytes in the new OneDrives, bytes still to copy, files failed."""
    out: dict[str, dict[str, int]] = {}
    for item in files:
        entry = out.setdefault(item.scope, {"moved": 0, "left": 0, "failed": 0})
        if item.version == REMOVED:
            continue
        if item.state == "done":
            entry["moved"] += item.size or 0
        else:
            entry["left"] += item.size or 0
            entry["failed"] += item.state == "failed"
    for pair in drives.copy.pairs:  # users whose new OneDrive is missing: everything is still to move
        if pair.source and pair.target is None:
            out.setdefault(pair.scope, {"moved": 0, "left": 0, "failed": 0})["left"] += int(
                (pair.source.get("quota") or {}).get("used") or 0)
    return out


def files_check(phase: Phase, old: GraphClient, new: GraphClient, moving: pd.DataFrame, tgt: Inventory,
                drives: Drives | None = None) -> Check:
    """Every OneDrive, folder by folder, from full listings of both sides (bytes; Office files by number)."""
    check = Check("files")
    drives = drives or connect(phase, old, new, moving, tgt)
    for pair in drives.copy.pairs:
        if pair.source and pair.target is None:
            check.add(pair.source_name, 1, 0, missing=1, detail="no OneDrive in the new tenant")
    return folder_check(check, drives.copy, "drive-file", "the new OneDrive")



@reconciles("files", "OneDrive authorship", "OneDrive access")
def files_reconciled(r: Reads) -> list[Check]:
    drives = connect(r.phase, r.old, r.new, r.moving, r.tgt)
    return [files_check(r.phase, r.old, r.new, r.moving, r.tgt, drives),
            workload_check("OneDrive authorship", FileAuthorship(drives.copy, drives.new_person,
                                                                 kind="drive-authorship")),
            access_check("OneDrive access", drives.sharing)]
