"""Who may act for whom: FullAccess on a mailbox, Send As and Send on Behalf. No Graph API reads or writes them, so
both tenants go through Exchange Online PowerShell, and the runbook reads what a **read-only script** exported
(``Get-MailboxPermission``, ``Get-RecipientPermission`` and ``Get-Mailbox`` piped to ``Export-Csv`` into
``<state_dir>/readback/``):

1. the old tenant's rights: phase 00 writes that export (before phase 20 renames anyone); phase 60 writes it again
   as a manual item while the files are missing;
2. phase 60 maps each right through the user mapping and writes the grants (``Add-MailboxPermission -AccessRights
   FullAccess -AutoMapping $true``, ``Add-RecipientPermission -AccessRights SendAs``, one ``Set-Mailbox
   -GrantSendOnBehalfTo @{Add=...}`` per mailbox with all its delegates), then the same export of the new tenant;
3. the next run reads the new export back: a right found there is done. Phase 90 reads the newest export (run the
   script again after a change).

A right held by someone who does not move is reported on its own item, never given to somebody else."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from .addresses import MAPPED, Addresses

FILES = {"FullAccess": "full-access.csv", "SendAs": "send-as.csv", "SendOnBehalf": "send-on-behalf.csv"}
SELF = "nt authority\\self"
QUOTED_RE = re.compile(r"'((?:[^']|'')*)'")
Right = tuple[str, str, str]  # (right, mailbox, person), lower case


def folder_of(state_dir: Path) -> Path:
    return state_dir / "readback"


def export_commands(folder: Path, side: str, mailboxes: list[str]) -> list[str]:
    """The read-only script's lines: every mailbox's rights into ``<folder>/<side>-*.csv`` (the first mailbox writes
    each file anew, the others append)."""
    lines = []
    for i, box in enumerate(mailboxes):
        more = " -Append" if i else ""
        lines += [
            f"Get-MailboxPermission -Identity {ps_quote(box)} | Select-Object Identity,User,AccessRights | Export-Csv "
            f"-Path {ps_quote(str(folder / (side + '-' + FILES['FullAccess'])))}{more} -NoTypeInformation",
            f"Get-RecipientPermission -Identity {ps_quote(box)} | Select-Object Identity,Trustee,AccessRights | "
            f"Export-Csv -Path {ps_quote(str(folder / (side + '-' + FILES['SendAs'])))}{more} -NoTypeInformation",
            f"Get-Mailbox -Identity {ps_quote(box)} | Select-Object Identity,GrantSendOnBehalfTo | Export-Csv -Path "
            f"{ps_quote(str(folder / (side + '-' + FILES['SendOnBehalf'])))}{more} -NoTypeInformation"]
    return lines


def read_rights(folder: Path, side: str) -> set[Right] | None:
    """Every right in an export; None when the export was never run."""
    paths = {right: folder / f"{side}-{name}" for right, name in FILES.items()}
    if not all(p.is_file() for p in paths.values()):
        return None
    rights: set[Right] = set()
    for right, column in (("FullAccess", "User"), ("SendAs", "Trustee")):
        with open(paths[right], newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                person = str(row.get(column) or "").lower()
                if right in str(row.get("AccessRights")) and person and person != SELF:
                    rights.add((right, str(row["Identity"]).lower(), person))
    with open(paths["SendOnBehalf"], newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for person in filter(None, (p.strip() for p in str(row.get("GrantSendOnBehalfTo") or "").split(";"))):
                rights.add(("SendOnBehalf", str(row["Identity"]).lower(), person.lower()))
    return rights


def old_export_script(folder: Path, org: str, mailboxes: list[str]) -> list[str]:
    return [f"Connect-ExchangeOnline -Organization {ps_quote(org)}", *export_commands(folder, "old", mailboxes)]


class MailboxRights(Workload):
    kind = "mailbox-right"
    title = "who may act for whom (FullAccess, Send As, Send on Behalf)"
    manual_shell = "Exchange Online PowerShell"

    def __init__(self, folder: Path, old_org: str, new_org: str, addresses: Addresses,
                 mailboxes: list[tuple[str, str]]) -> None:
        """``mailboxes``: each moving mailbox as (the old mailbox's object id, its new UPN)."""
        self.folder, self.old_org, self.new_org, self.addresses = folder, old_org, new_org, addresses
        self.mailboxes = mailboxes
        self.moving = {new.lower() for _, new in mailboxes}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        yield Work("old-export", "the old tenant's mailbox rights (read-only export)",  # first, and read back
                   detail={"mailboxes": len(self.mailboxes), "folder": str(self.folder)})
        old = read_rights(self.folder, "old")
        if old is None:  # the rights themselves once it ran
            return
        for right, box, person in sorted(old):
            new_box, how_box = self.addresses.rewrite(box)
            if how_box != MAPPED or new_box.lower() not in self.moving:
                continue  # the mailbox does not move
            new_person, how = self.addresses.rewrite(person)
            yield Work(f"{right}/{box}/{person}", f"{new_box}: {right} for {person}",
                       detail={"right": right, "mailbox": new_box, "person": new_person if how == MAPPED else "",
                               **({"note": how} if how != MAPPED else {})},
                       data=(right, new_box, new_person if how == MAPPED else None, person))

    def find(self, work: Work) -> set[Right] | None:
        return read_rights(self.folder, "old" if work.key == "old-export" else "new")

    def differs(self, work: Work, existing: set[Right] | None) -> str:
        if work.key == "old-export":
            return "" if existing is not None else "the old tenant's rights were never exported"
        right, box, person, old = work.data
        if person is None:
            return f"{old} does not move: nobody holds the right"
        if existing is None:
            return "the new tenant's rights were never exported (run the phase's read-only script)"
        return "" if (right, box.lower(), person.lower()) in existing else f"{person} has no {right} on {box}"

    def apply(self, work: Work, existing: set[Right] | None) -> Applied | ManualStep:
        if work.key == "old-export":
            if existing is not None:
                return Applied("old", "read back", detail=work.detail)
            return ManualStep(work.key, "export the old tenant's mailbox rights (read-only)",
                              old_export_script(self.folder, self.old_org, [old for old, _ in self.mailboxes]),
                              check=f"old-*.csv in {self.folder}")
        right, box, person, old = work.data
        if person is None:
            return ManualStep(work.key, f"{box}: {old} had {right} and does not move", [
                f"# {old} had {right} on {box} and is not in the user mapping: add them to it and rerun this phase, or "
                "give the right to whoever took over"], check=f"someone holds {right} on {box}")
        if existing is not None and (right, box.lower(), person.lower()) in existing:
            return Applied(f"{box}/{person}", "done by the admin, read back", detail=work.detail)
        command = {"FullAccess": f"Add-MailboxPermission -Identity {ps_quote(box)} -User {ps_quote(person)} "
                                 "-AccessRights FullAccess -AutoMapping $true",
                   "SendAs": f"Add-RecipientPermission -Identity {ps_quote(box)} -Trustee {ps_quote(person)} "
                             "-AccessRights SendAs -Confirm:$false",
                   "SendOnBehalf": f"Set-Mailbox -Identity {ps_quote(box)} -GrantSendOnBehalfTo "
                                   f"@{{Add={ps_quote(person)}}}"}[right]
        return ManualStep(work.key, f"{box}: {right} for {person}", [command],
                          check=f"{person} has {right} on {box} in the new export")

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """The old export as it is; the grants with every delegate of a mailbox in one Set-Mailbox, then the
        read-only export of the new tenant (every moving mailbox, so that nothing granted earlier drops out)."""
        out = [s for s in steps if s.key == "old-export"]
        grants: list[str] = []
        behalf: dict[str, list[str]] = {}
        for step in steps:
            if step.key == "old-export":
                continue
            for line in step.commands:
                if line.startswith("Set-Mailbox"):
                    box, person = QUOTED_RE.findall(line)
                    behalf.setdefault(box, []).append(ps_quote(person.replace("''", "'")))
                else:
                    grants.append(line)
        grants += [f"Set-Mailbox -Identity {ps_quote(box.replace(chr(39) * 2, chr(39)))} -GrantSendOnBehalfTo "
                   f"@{{Add={','.join(people)}}}" for box, people in behalf.items()]
        rest = [s for s in steps if s.key != "old-export"]
        if rest:
            keys = f"{rest[0].key} ... {rest[-1].key}" if len(rest) > 1 else rest[0].key
            out.append(ManualStep(keys, f"grant {len(rest)} right(s) in the new tenant, then export them (read-only; "
                                        "the next run reads them back)",
                                  [f"Connect-ExchangeOnline -Organization {ps_quote(self.new_org)}", *grants,
                                   *export_commands(self.folder, "new", sorted({n for _, n in self.mailboxes}))],
                                  check="; ".join(s.check for s in rest[:3]) + (" ..." if len(rest) > 3 else "")))
        return out
