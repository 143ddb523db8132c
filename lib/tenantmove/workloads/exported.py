"""A workload whose state only Exchange Online PowerShell shows and changes (who may act for whom in a mailbox, a
group's delivery settings): the runbook cannot read either tenant itself, so it reads what a **read-only export
script** wrote into ``<state_dir>/readback/`` and writes the changes as a manual script:

1. ``old-export``: the old tenant's export (phase 00 writes its script, before phase 20 renames anyone; the phase
   writes it again as a manual item while the files are missing); read back when the files are there;
2. one item per thing the old export lists, mapped to the new tenant: done when the new tenant's export shows it;
   otherwise the command that makes it;
3. the commands of a run are one manual step, followed by the export of the new tenant (everything, so that
   nothing done earlier drops out of it); the next run reads that export back. Phase 90 reads the newest export:
   run the script again after a change."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote

OLD_EXPORT = "old-export"


def folder_of(state_dir: Path) -> Path:
    return state_dir / "readback"


class Exported(Workload):
    manual_shell = "Exchange Online PowerShell"
    what = "settings"  # as the export names them: "mailbox rights"

    def __init__(self, folder: Path, old_org: str, new_org: str) -> None:
        self.folder, self.old_org, self.new_org = folder, old_org, new_org

    # what each kind says
    def export(self, side: str) -> list[str]:
        """The read-only lines that export the ``side`` ("old" or "new") into :attr:`folder`."""
        raise NotImplementedError

    def read(self, side: str) -> Any | None:
        """What the ``side``'s export holds; None when it was never run."""
        raise NotImplementedError

    def wanted(self, old: Any) -> Iterable[Work]:
        """One item per thing of the old export that moves."""
        raise NotImplementedError

    def missing(self, work: Work, new: Any | None) -> str:
        """Why the new tenant's export (None: never run) does not show the item; "" when it does."""
        raise NotImplementedError

    def step(self, work: Work) -> ManualStep:
        """The command that makes the item in the new tenant (or says why nobody can)."""
        raise NotImplementedError

    def merge(self, lines: list[str]) -> list[str]:
        """The commands of all the items, as one script runs them (a kind groups those a cmdlet takes as a list)."""
        return lines

    # the engine's side, the same for every kind
    def old_export_step(self) -> ManualStep:
        return ManualStep(OLD_EXPORT, f"export the old tenant's {self.what} (read-only)",
                          [f"Connect-ExchangeOnline -Organization {ps_quote(self.old_org)}", *self.export("old")],
                          check=f"old-*.csv in {self.folder}")

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        yield Work(OLD_EXPORT, f"the old tenant's {self.what} (read-only export)",  # first, and read back
                   detail={"folder": str(self.folder)})
        old = self.read("old")
        if old is not None:  # the things themselves once it ran
            yield from self.wanted(old)

    def find(self, work: Work) -> Any | None:
        return self.read("old" if work.key == OLD_EXPORT else "new")

    def differs(self, work: Work, existing: Any | None) -> str:
        if work.key == OLD_EXPORT:
            return "" if existing is not None else f"the old tenant's {self.what} were never exported"
        return self.missing(work, existing)

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        if work.key == OLD_EXPORT:
            return Applied("old", "read back", detail=work.detail) if existing is not None else self.old_export_step()
        if not self.missing(work, existing):
            return Applied(work.key, "done by the admin, read back", detail=work.detail)
        return self.step(work)

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """The old export as it is; the changes in one step, then the read-only export of the new tenant."""
        out = [s for s in steps if s.key == OLD_EXPORT]
        rest = sorted((s for s in steps if s.key != OLD_EXPORT), key=lambda s: s.key)  # as the workers finished: sorted
        if rest:
            keys = f"{rest[0].key} ... {rest[-1].key}" if len(rest) > 1 else rest[0].key
            out.append(ManualStep(keys, f"{len(rest)} change(s) of {self.what} in the new tenant, then their export "
                                        "(read-only; the next run reads it back)",
                                  [f"Connect-ExchangeOnline -Organization {ps_quote(self.new_org)}",
                                   *self.merge([line for s in rest for line in s.commands]), *self.export("new")],
                                  check="; ".join(s.check for s in rest[:3]) + (" ..." if len(rest) > 3 else "")))
        return out
