"""Phase 90: before the old subscription is cancelled, every workload reconciled from the ledger and from
fresh reads of both tenants (users and licences, groups and members, sites' lists, files by hash, mail by
folder and by fidelity, notebooks by section: each phase registers the check of what it moved, :mod:`.checks`),
one verdict, and the closing checklist. Read-only: it changes nothing in either tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine.workload import REMOVED
from ..report import Report, ShowsItself
from ..runbook import closure
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..workloads.inventory import Inventory
from .checks import Check, Reads, areas, rerun_of
from .common import StepResult


def ledger_check(phase: Phase) -> tuple[Check, pd.DataFrame]:
    """Per kind: how many items the ledger holds done; every item not done, named, with its phase."""
    check = Check("ledger")
    open_items = []
    by_kind: dict[str, list[Any]] = {}
    for item in phase.ledger().items():
        if item.version == REMOVED and item.state == "done":
            continue
        by_kind.setdefault(item.kind, []).append(item)
    for kind, items in sorted(by_kind.items()):
        waiting = [i for i in items if i.state != "done"]
        check.add(kind, len(items), sum(1 for i in items if i.state == "done"), missing=len(waiting),
                  detail="; ".join(f"{i.name or i.source_id} ({i.state})" for i in waiting[:5]))
        open_items += [{"phase": i.phase, "kind": kind, "item": i.name or i.source_id, "state": i.state,
                        "reason": i.error or "", "attempts": i.attempts} for i in waiting]
    return check, pd.DataFrame(open_items, columns=["phase", "kind", "item", "state", "reason", "attempts"])


@dataclass(repr=False)
class Verdict(ShowsItself):
    checks: list[Check]
    open_items: pd.DataFrame
    reopened: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def green(self) -> bool:
        return self.open_items.empty and all(c.problems.empty for c in self.checks)

    def rerun(self) -> list[str]:
        phases = {rerun_of(c.area) for c in self.checks if not c.problems.empty}
        reopened = set(self.reopened["rerun"]) if not self.reopened.empty else set()
        return sorted((phases | set(self.open_items["phase"]) | reopened) - {""})

    def summary(self) -> pd.DataFrame:
        rows = []
        for c in self.checks:
            df = c.frame
            rows.append({"area": c.area, "items": len(df), "source": int(df["source"].sum()),
                         "target": int(df["target"].sum()), "missing": int(df["missing"].sum()),
                         "extra": int(df["extra"].sum()), "mismatched": int(df["mismatched"].sum())})
        return pd.DataFrame(rows, columns=["area", "items", "source", "target", "missing", "extra", "mismatched"])

    def report(self) -> Report:
        summary = self.summary()
        report = Report().table(summary, "Reconciliation per area: source, target, and what differs")
        report.bars(summary, "area", ["target", "missing", "extra", "mismatched"],
                    "Per area: items in the new tenant, and what differs", "items")
        for c in self.checks:
            report.table(c.problems if not c.problems.empty else c.frame.head(0),
                         f"{c.area}: {'what differs, named' if not c.problems.empty else 'nothing differs'}"
                         f" ({len(c.rows)} item(s) compared)")
        if not self.open_items.empty:
            report.table(self.open_items, "Ledger items not done (failed, waiting for the admin, or never reached)")
        if not self.reopened.empty:
            report.table(self.reopened, "Reopened in the ledger, so that the rerun repairs them")
        if self.green:
            return report.banner("ok", "VERDICT: GREEN. Every workload reconciles and the ledger holds nothing "
                                       "open: follow the closing checklist below.")
        again = self.rerun()
        return report.banner("fail", "VERDICT: RED. " + ("Rerun, in this order: " + ", ".join(again)
                                                         + " (after the manual steps they name); then"
                                                         if again else "Fix what is named above; then")
                             + " run this phase again.")


def _folder(name: str | None) -> str:
    return "/" + (name or "").strip("/").rsplit("/", 1)[0].lower() if "/" in (name or "").strip("/") else "/"


def reopen(phase: Phase, verdict: Verdict) -> pd.DataFrame:
    """What differs in the target, made to do again: the ledger's items behind each difference are reopened and
    their delta links forgotten, so that the rerun the verdict names repairs them (a full listing there). It
    writes the ledger only, never a tenant; every reopened item keeps the reason in its history."""
    ledger = phase.ledger()
    rows = []
    for check in verdict.checks:
        for kind, field_, value, why in check.reopen:
            items = ledger.items(kind, ["done"])
            if field_ == "key":
                keys = [i.source_id for i in items if i.source_id == value]
            elif field_ == "name":
                keys = [i.source_id for i in items if (i.name or "").lower() == value.lower()]
            elif field_ == "scope":
                keys = [i.source_id for i in items if i.scope == value]
            else:
                scope, folder = value.split("|", 1)
                keys = [i.source_id for i in items if i.scope == scope and _folder(i.name) == "/" + folder.strip("/")]
            count = ledger.reopen(kind, keys, why)
            wanted = set(keys)
            chosen = [i for i in items if i.source_id in wanted]
            for scope in {i.scope for i in chosen}:
                ledger.forget_delta_links(kind, scope)
            rows.append({"area": check.area, "what": why, "ledger kind": kind, "items reopened": count,
                         "rerun": chosen[0].phase if chosen else rerun_of(check.area)})
    table = pd.DataFrame(rows, columns=["area", "what", "ledger kind", "items reopened", "rerun"])
    phase.save_table("reopened", table)
    return table


def every_check(phase: Phase, old: GraphClient, new: GraphClient, old_person: GraphClient, new_person: GraphClient,
                src: Inventory, tgt: Inventory, moving: pd.DataFrame) -> list[Check]:
    """Every registered area's fresh reads of both tenants (:mod:`.checks`), in phase order."""
    reads = Reads(phase, old, new, old_person, new_person, src, tgt, moving)
    return [check for area in areas() for check in area.check(reads)]


def reconcile_all(phase: Phase, checks: list[Check]) -> Verdict:
    ledger, open_items = ledger_check(phase)
    verdict = Verdict([ledger, *checks], open_items)
    verdict.reopened = reopen(phase, verdict)
    for c in verdict.checks:
        phase.save_table(f"reconcile-{c.area.replace(' ', '-')}", c.frame)
    phase.save_table("reconcile-summary", verdict.summary())
    return verdict


def closing_checklist(phase: Phase, verdict: Verdict, src: Inventory, moving: pd.DataFrame) -> StepResult:
    """Green: what to do before and after cancelling the old subscription. Red: nothing to close yet."""
    report = Report()
    summary: dict[str, Any] = {"verdict": "green" if verdict.green else "red", "rerun": verdict.rerun(),
                               **{f"{r['area']} differing": int(r["missing"] + r["extra"] + r["mismatched"])
                                  for _, r in verdict.summary().iterrows()}}
    for check in verdict.checks:  # a rehearsal's sender's view of the mail window, in the verdict's own words
        if check.area == "mail flow":
            summary.update({f"mail flow: {r['item']}": r["detail"] for r in check.rows})
    if not verdict.green:
        again = verdict.rerun()
        report.banner("fail", "not ready to close: " + (f"rerun {', '.join(again)}, then this phase" if again else
                                                         "fix what the verdict names, then run this phase again"))
        return StepResult(report, summary)
    mailboxes_old = [str(u) for u in moving["source_upn"]]
    done = closure.marks(phase.state_dir)
    table = pd.DataFrame([{"key": s.key, "step": s.title, "what to do": s.what,
                           "done": f"☑ {done[s.key]['by']} at {done[s.key]['at']}" + (
                               f": {done[s.key]['note']}" if done[s.key].get("note") else "")
                           if s.key in done else "☐"} for s in closure.checklist(src.initial_domain)])
    summary["closing checklist done"] = f"{sum(1 for s in closure.KEYS if s in done)} of {len(closure.KEYS)}"
    phase.save_table("closing-checklist", pd.DataFrame(
        [{"step": "Calendar Repair Assistant", "command": f"Set-Mailbox -Identity '{u}' -CalendarRepairDisabled $true"}
         for u in mailboxes_old]))
    report.banner("ok", "ready to close: every workload reconciles").table(
        table, "Closing checklist: mark each step with python -m tenantmove done PARAMS KEY --note '...'; when all "
               "are done, a second person signs the closure with python -m tenantmove close PARAMS")
    return StepResult(report, summary)
