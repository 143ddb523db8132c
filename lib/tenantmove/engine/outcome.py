"""What the engine did with one workload: every item's action, the counts, the manual steps and
their script. An :class:`Outcome` shows itself in a notebook and is quiet everywhere else."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import TenantmoveError
from ..report import Report, ShowsItself
from .ledger import PlanCounts
from .workload import ManualStep

COLUMNS = ["key", "name", "action", "target_id", "error"]
# actions that change nothing in a tenant
QUIET_ACTIONS = {"done before", "adopted", "manual", "failed", "to do", "to do again (source changed)",
                 "to retry", "manual: check again", "verified"}
PLANNED_ACTIONS = {"new": "to do", "planned": "to do", "changed": "to do again (source changed)",
                   "retry": "to retry", "done before": "done before", "manual": "manual: check again"}


# The words every count on every page uses, whatever a workload calls what it did to one item (the item's own
# action stays in the per-item table): an auditor reads "created: 1" and "done before: 11" on any page the same way.
VOCABULARY = ("to do", "created", "adopted", "updated", "removed", "done before", "manual", "failed")
MEANING = {
    "to do": "planned (a dry run): new, changed since the last pass, or failed before",
    "created": "made in the new tenant by this run (created, imported, copied, published, added)",
    "adopted": "found already in place (made earlier, by the service or by the admin's script) and taken as it is",
    "updated": "there before and changed by this run (renamed, moved, replaced, applied, switched on)",
    "removed": "deleted by this run (the old tenant's DNS records; items whose source was deleted)",
    "done before": "done by an earlier run and unchanged since: nothing to do",
    "manual": "waiting for the admin: a command no API can run, in the phase's manual script",
    "failed": "failed this run; the next run retries it",
}
COUNTED_AS = {  # an action's first words -> its count (the longest match wins)
    "to do": "to do", "to retry": "to do",
    "created by the admin": "adopted", "done by the admin": "adopted",
    "created": "created", "imported": "created", "copied": "created", "published": "created", "added": "created",
    "issued": "created", "sent": "created", "password instead": "manual",
    "adopted": "adopted", "already": "adopted", "ready": "adopted", "reachable": "adopted", "mapped": "adopted",
    "read back": "adopted", "verified": "adopted",
    "updated": "updated", "renamed": "updated", "moved": "updated", "replaced": "updated", "applied": "updated",
    "switched on": "updated",
    "removed": "removed", "done before": "done before", "manual": "manual", "failed": "failed",
}


def counted_as(action: str) -> str:
    """The count an item's action falls under (one of :data:`VOCABULARY`); an action no rule knows counts as
    itself, so nothing is hidden (a unit test keeps every action in the code known)."""
    match = max((k for k in COUNTED_AS if action == k or action.startswith(k + " ") or action.startswith(k + ":")
                 or action.startswith(k + ",")), key=len, default=None)
    return COUNTED_AS[match] if match else action


@dataclass(repr=False)
class Outcome(ShowsItself):
    kind: str
    title: str
    dry_run: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    plan: PlanCounts = field(default_factory=PlanCounts)
    manual: list[ManualStep] = field(default_factory=list)
    script: Path | None = None
    seconds: float = 0.0

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)

    def counts(self) -> dict[str, int]:
        return dict(Counter(r["action"] for r in self.rows))

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["action"] == "failed"]

    @property
    def changed(self) -> int:
        """How many items this run changed in a tenant."""
        return sum(1 for r in self.rows if r["action"] not in QUIET_ACTIONS)

    def targets(self) -> dict[str, str]:
        """Source key -> target id of every item that has one (done now or before)."""
        return {r["key"]: r["target_id"] for r in self.rows if r["target_id"]}

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r["action"] == action)

    def tally(self) -> dict[str, int]:
        """The counts in the common vocabulary, in its order: ``{"created": 3, "done before": 11}``."""
        counted = Counter(counted_as(r["action"]) for r in self.rows)
        return {word: counted[word] for word in (*VOCABULARY, *sorted(set(counted) - set(VOCABULARY)))
                if counted[word]}

    def summary(self) -> dict[str, Any]:
        """Counts for the phase summary (and run.json), e.g. ``{"users created": 3, ...}``."""
        out: dict[str, Any] = {f"{self.title} {word}": n for word, n in self.tally().items()}
        if self.script is not None:
            out[f"{self.title}: manual script"] = self.script.name
        return out or {f"{self.title}": 0}

    def report(self) -> Report:
        report = Report(f"{self.title[:1].upper() + self.title[1:]}{' — plan (dry run)' if self.dry_run else ''}")
        counts = self.counts()
        report.table(pd.DataFrame([{"count": word, "items": sum(n for a, n in counts.items() if counted_as(a) == word),
                                    "as the items say": ", ".join(f"{a}: {n}" for a, n in sorted(counts.items())
                                                                  if counted_as(a) == word),
                                    "meaning": MEANING.get(word, "")} for word in self.tally()],
                                  columns=["count", "items", "as the items say", "meaning"]))
        report.table(self.frame.drop(columns=["error"] if not self.failed else []), f"{self.title}: every item")
        if self.failed:
            report.banner("fail", f"{len(self.failed)} {self.title} failed; a rerun retries them and skips the rest")
        if self.manual:
            where = f" — script {self.script}" if self.script else ""
            report.banner("warn", f"{len(self.manual)} {self.title} need the admin{where}")
            report.table(pd.DataFrame([{"step": m.title, "command": c} for m in self.manual for c in m.commands],
                                      columns=["step", "command"]),
                         "Manual steps (run them, then rerun this phase: it checks and marks them done)")
        return report




class ItemsFailed(TenantmoveError):
    """Some items of a workload failed: the phase fails, and says which and how to retry."""

    def __init__(self, outcome: Outcome, phase: str) -> None:
        self.outcome = outcome
        self.report = outcome.report()
        first = "; ".join(f"{r['name'] or r['key']}: {r['error']}" for r in outcome.failed[:3])
        more = f" (and {len(outcome.failed) - 3} more)" if len(outcome.failed) > 3 else ""
        super().__init__(f"{len(outcome.failed)} of {len(outcome.rows)} {outcome.title} failed: {first}{more}",
                         where=f"{phase} · ledger kind {outcome.kind!r}",
                         hint=f"fix the cause, then rerun {phase}: done items are skipped, failed ones retried")
