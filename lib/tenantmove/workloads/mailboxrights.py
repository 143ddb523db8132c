"""Who may act for whom: FullAccess on a mailbox, Send As and Send on Behalf. No Graph API reads or writes them: an
:class:`~.exported.Exported` workload. The export (``Get-MailboxPermission``, ``Get-RecipientPermission``, and
``Get-Mailbox``'s ``GrantSendOnBehalfTo`` through ``Get-Recipient``) names each mailbox as the script asked for it
(the old mailbox's object id, the new UPN), since Exchange's own ``Identity`` is the recipient's name, and joins
the ``AccessRights`` collection, which ``Export-Csv`` would write as its type name. Phase 60 maps each right through
the user mapping and grants it (``Add-MailboxPermission -AccessRights FullAccess -AutoMapping $true``,
``Add-RecipientPermission -AccessRights SendAs``, one ``Set-Mailbox -GrantSendOnBehalfTo @{Add=...}`` per mailbox
with all its delegates). A right held by someone who does not move is reported on its own item, never given to
somebody else."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path

from ..engine import ManualStep, Work, ps_quote
from .addresses import MAPPED, Addresses
from .exported import Exported

FILES = {"FullAccess": "full-access.csv", "SendAs": "send-as.csv", "SendOnBehalf": "send-on-behalf.csv"}
SELF = "nt authority\\self"
QUOTED_RE = re.compile(r"'((?:[^']|'')*)'")
Right = tuple[str, str, str]  # (right, mailbox, person), lower case


def _as(box: str) -> str:
    """A calculated column naming the mailbox as the script asked for it."""
    return f"@{{Name='Mailbox';Expression={{{ps_quote(box)}}}}}"


RIGHTS_COLUMN = "@{Name='AccessRights';Expression={$_.AccessRights -join ','}}"


def export_commands(folder: Path, side: str, mailboxes: list[str]) -> list[str]:
    """The read-only script's lines: every mailbox's rights into ``<folder>/<side>-*.csv`` (the first mailbox writes
    each file anew, the others append)."""
    lines = []
    for i, box in enumerate(mailboxes):
        more = " -Append" if i else ""
        out = {right: f"Export-Csv -Path {ps_quote(str(folder / (side + '-' + name)))}{more} -NoTypeInformation"
               for right, name in FILES.items()}
        lines += [
            f"Get-MailboxPermission -Identity {ps_quote(box)} | Select-Object {_as(box)},User,{RIGHTS_COLUMN} | "
            + out["FullAccess"],
            f"Get-RecipientPermission -Identity {ps_quote(box)} | Select-Object {_as(box)},Trustee,{RIGHTS_COLUMN} | "
            + out["SendAs"],
            f"Get-Mailbox -Identity {ps_quote(box)} | Select-Object -ExpandProperty GrantSendOnBehalfTo | Get-Recipient "
            f"| Select-Object {_as(box)},PrimarySmtpAddress | " + out["SendOnBehalf"]]
    return lines


def read_rights(folder: Path, side: str) -> set[Right] | None:
    """Every right in an export; None when the export was never run."""
    paths = {right: folder / f"{side}-{name}" for right, name in FILES.items()}
    if not all(p.is_file() for p in paths.values()):
        return None
    rights: set[Right] = set()
    for right, column in (("FullAccess", "User"), ("SendAs", "Trustee"), ("SendOnBehalf", "PrimarySmtpAddress")):
        with open(paths[right], newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                person = str(row.get(column) or "").lower()
                granted = right == "SendOnBehalf" or right in str(row.get("AccessRights")).split(",")
                if granted and person and person != SELF:
                    rights.add((right, str(row["Mailbox"]).lower(), person))
    return rights


class MailboxRights(Exported):
    kind = "mailbox-right"
    title = "who may act for whom (FullAccess, Send As, Send on Behalf)"
    what = "mailbox rights"

    def __init__(self, folder: Path, old_org: str, new_org: str, addresses: Addresses,
                 mailboxes: list[tuple[str, str, str]]) -> None:
        """``mailboxes``: each moving mailbox as (the old mailbox's object id, its old UPN, its new UPN); the old
        export names it by id (phase 20 renames the old UPN), its items by the old UPN, as every kind of phase 60."""
        super().__init__(folder, old_org, new_org)
        self.addresses, self.mailboxes = addresses, mailboxes
        self.boxes = {key.lower(): (name, new) for key, name, new in mailboxes}

    def export(self, side: str) -> list[str]:
        return export_commands(self.folder, side, [key for key, _, _ in self.mailboxes] if side == "old"
                               else sorted({new for _, _, new in self.mailboxes}))

    def read(self, side: str) -> set[Right] | None:
        return read_rights(self.folder, side)

    def wanted(self, old: set[Right]) -> Iterable[Work]:
        for right, box, person in sorted(old):
            if box not in self.boxes:
                continue  # the mailbox does not move
            name, new_box = self.boxes[box]
            new_person, how = self.addresses.rewrite(person)
            yield Work(f"{right}/{name.lower()}/{person}", f"{new_box}: {right} for {person}",
                       detail={"right": right, "mailbox": new_box, "person": new_person if how == MAPPED else "",
                               **({"note": how} if how != MAPPED else {})},
                       data=(right, new_box, new_person if how == MAPPED else None, person))

    def missing(self, work: Work, new: set[Right] | None) -> str:
        right, box, person, old = work.data
        if person is None:
            return f"{old} does not move: nobody holds the right"
        if new is None:
            return "the new tenant's rights were never exported (run the phase's read-only script)"
        return "" if (right, box.lower(), person.lower()) in new else f"{person} has no {right} on {box}"

    def step(self, work: Work) -> ManualStep:
        right, box, person, old = work.data
        if person is None:
            return ManualStep(work.key, f"{box}: {old} had {right} and does not move", [
                f"# {old} had {right} on {box} and is not in the user mapping: add them to it and rerun this phase, or "
                "give the right to whoever took over"], check=f"someone holds {right} on {box}")
        command = {"FullAccess": f"Add-MailboxPermission -Identity {ps_quote(box)} -User {ps_quote(person)} "
                                 "-AccessRights FullAccess -AutoMapping $true",
                   "SendAs": f"Add-RecipientPermission -Identity {ps_quote(box)} -Trustee {ps_quote(person)} "
                             "-AccessRights SendAs -Confirm:$false",
                   "SendOnBehalf": f"Set-Mailbox -Identity {ps_quote(box)} -GrantSendOnBehalfTo "
                                   f"@{{Add={ps_quote(person)}}}"}[right]
        return ManualStep(work.key, f"{box}: {right} for {person}", [command],
                          check=f"{person} has {right} on {box} in the new export")

    def merge(self, lines: list[str]) -> list[str]:
        """Every delegate of a mailbox in one Set-Mailbox."""
        out: list[str] = []
        behalf: dict[str, list[str]] = {}
        for line in lines:
            if line.startswith("Set-Mailbox"):
                box, person = QUOTED_RE.findall(line)
                behalf.setdefault(box, []).append(ps_quote(person.replace("''", "'")))
            else:
                out.append(line)
        return out + [f"Set-Mailbox -Identity {ps_quote(box.replace(chr(39) * 2, chr(39)))} -GrantSendOnBehalfTo "
                      f"@{{Add={','.join(people)}}}" for box, people in behalf.items()]
