"""The engine: the only code that walks the ledger. It runs a :class:`~.workload.Workload`:

1. list what should exist (read-only) and compare it with the ledger;
2. in a dry run, stop there and say what would happen — nothing is written anywhere;
3. otherwise require the confirmation (destructive workloads), plan into the ledger (new items, and
   done items whose source changed), then hand every item still to do to a worker pool, at most
   ``scope_limit`` at once per scope: count the attempt, ``find`` the target by its natural key,
   ``apply``, record done / failed / manual;
4. write the manual steps' script into the phase's folder, keep the delta links if all went well;
5. return an :class:`~.outcome.Outcome`; if any item failed, raise :class:`~.outcome.ItemsFailed`
   after every item had its turn. One rule for every kind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from ..errors import TenantmoveError
from ..redact import redact
from .ledger import TODO_STATES, Done, Ledger
from .limits import ScopeLimits, interleave
from .manual import SCRIPT_SUFFIX, write_script
from .outcome import PLANNED_ACTIONS, ItemsFailed, Outcome
from .workload import Applied, DeltaLinks, ManualStep, Work, Workload

log = logging.getLogger("tenantmove.engine")
Progress = Callable[[int, int, float], None]


class Gate(Protocol):
    """What the engine needs of a confirmation: stop (raise) unless the admin confirmed."""

    def require(self) -> Any: ...


class Engine:
    def __init__(self, ledger: Ledger, phase: str, *, folder: Path | None = None, workers: int = 4,
                 progress: Callable[[str], Progress] | None = None, run_id: str = "",
                 scripts: set[Path] | None = None, commit_batch: int = 200, commit_seconds: float = 0.25,
                 cluster: Callable[[], tuple[Any, Any]] | None = None) -> None:
        """``scripts``: the manual scripts this phase execution wrote so far (shared by its engines): a workload
        of the same kind run again in it (list items, level by level) adds to its script. ``commit_batch``: done
        items are recorded this many at a time, in one transaction (1: each on its own), and at least every
        ``commit_seconds``, so a kill forgets at most that much finished work. Safe by design: every
        item's attempt is committed before its work starts, and ``find`` adopts what a killed run made but had
        not recorded yet. ``cluster``: gives the Dask client (:mod:`.cluster`) and what its worker processes sign in
        with (a :class:`~tenantmove.services.remote.RemoteSignIn`), asked only by a workload whose scopes can run
        there."""
        self.ledger, self.phase, self.folder = ledger, phase, folder
        self.scripts = scripts
        self.commit_batch = max(1, commit_batch)
        self.commit_seconds = commit_seconds
        self._flushed_at = time.monotonic()
        self._pending: list[tuple[str, Done]] = []
        self._pending_lock = threading.Lock()
        self.workers = max(1, workers)
        self.progress = progress
        self.run_id = run_id or ledger.run_id
        self.cluster = cluster

    def run(self, workload: Workload, *, dry_run: bool, gate: Gate | None = None) -> Outcome:
        started = time.monotonic()
        deltas = DeltaLinks(self.ledger, workload.kind)  # committed only after a successful apply
        works = list(workload.list(deltas))
        keys = [w.key for w in works]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise TenantmoveError(f"workload {workload.kind} listed the same key twice: {', '.join(dupes[:5])}",
                                  where=f"{self.phase} · {workload.kind}", hint="this is a bug: please report it")
        outcome = Outcome(workload.kind, workload.title or workload.kind, dry_run)
        if dry_run:
            preview = self.ledger.preview(workload.kind, [w.planned() for w in works])
            outcome.rows = [self._row(w, PLANNED_ACTIONS[preview[w.key]]) for w in works]
            outcome.seconds = round(time.monotonic() - started, 2)
            return outcome
        if gate is not None and workload.destructive:
            gate.require()
        elif workload.destructive:
            raise TenantmoveError(f"{workload.kind} changes are destructive and no confirmation gate was given",
                                  where=self.phase, hint="this is a bug: pass the phase's confirmation gate")
        before = {i.source_id: i for i in self.ledger.items(workload.kind)}
        for work in works:  # what the ledger knew before this pass (target id, copied hash, detail)
            work.before = before.get(work.key)
        outcome.plan = self.ledger.plan(self.phase, workload.kind, [w.planned() for w in works])
        states = {i.source_id: i for i in self.ledger.items(workload.kind)}
        todo = [w for w in works if states[w.key].state in TODO_STATES]
        waiting = {w.key for w in todo}
        rows: dict[str, dict[str, Any]] = {w.key: self._row(w, "done before", states[w.key].target_id)
                                           for w in works if w.key not in waiting}
        if todo and not (self.cluster is not None and workload.distributable):  # a worker begins its own scope
            workload.begin(todo)
        self._work(workload, todo, rows, outcome)
        outcome.rows = [rows[w.key] for w in works]
        if outcome.manual and self.folder is not None:
            path = self.folder / f"manual-{workload.kind}{SCRIPT_SUFFIX}"
            outcome.script = write_script(path, workload.manual_shell, workload.manual_preamble,
                                          workload.combine_manual(outcome.manual), self.phase, self.run_id,
                                          append=self.scripts is not None and path in self.scripts)
            if self.scripts is not None:
                self.scripts.add(path)
        if not outcome.failed:
            deltas.commit()
        outcome.seconds = round(time.monotonic() - started, 2)
        if outcome.failed:
            raise ItemsFailed(outcome, self.phase)
        return outcome

    @staticmethod
    def _row(work: Work, action: str, target_id: str | None = None, error: str | None = None,
             note: str = "") -> dict[str, Any]:
        """An item's row of the outcome (its ``note``, what the workload said of it, is kept in the ledger too)."""
        return {"key": work.key, "name": work.name, "action": action, "target_id": target_id, "error": error,
                "note": note}

    def _work(self, workload: Workload, todo: list[Work], rows: dict[str, dict[str, Any]], outcome: Outcome) -> None:
        if not todo:
            return
        if self.cluster is not None and workload.distributable:
            client, signin = self.cluster()
            self._work_on_cluster(workload, client, signin, todo, rows, outcome)
            return
        limits = ScopeLimits(workload.scope_limit)
        order = [todo[i] for i in interleave([w.key for w in todo], [w.scope for w in todo])]
        report = self.progress(workload.title or workload.kind) if self.progress else None
        lock = threading.Lock()
        finished = [0]
        t0 = time.monotonic()

        def one(work: Work) -> None:
            with limits.hold(work.scope):
                row = self._one(workload, work, outcome)
            with lock:
                rows[work.key] = row
                finished[0] += 1
                if report:
                    report(finished[0], len(order), time.monotonic() - t0)

        try:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(order)),
                                    thread_name_prefix=f"tm-{workload.kind}") as pool:
                for future in [pool.submit(one, w) for w in order]:
                    future.result()  # a worker's own failures are recorded; this re-raises only a bug in the engine
        finally:
            self._flush()

    def _work_on_cluster(self, workload: Workload, client: Any, signin: Any, todo: list[Work],
                         rows: dict[str, dict[str, Any]], outcome: Outcome) -> None:
        """Each scope one task on the cluster: its items' attempts recorded first, its results as they come back;
        a scope whose worker was lost is handed out again, its items ``retried`` (``find`` adopts). A workload whose
        service counts per app and tenant (``shared_budget``: SharePoint) has only as many scopes out at once as
        that budget allows, whatever the number of worker processes."""
        from distributed import as_completed

        from . import cluster

        kind = workload.kind
        scopes: dict[str, list[Work]] = {}
        for work in todo:
            scopes.setdefault(work.scope or work.key, []).append(work)
        report = self.progress(workload.title or workload.kind) if self.progress else None
        t0, finished, handed = time.monotonic(), 0, {}
        limit = workload.scope_limit or self.workers
        at_most = len(scopes)
        if workload.shared_budget:
            at_most, signin = signin.shared_budget(limit)
        factory = workload.remote_scope(signin)
        waiting = list(scopes.values())

        def hand_out(works: list[Work], tries: int) -> Any:
            for work in works:
                self.ledger.attempt(kind, work.key)
            future = cluster.submit(client, factory, works, limit)
            handed[future.key] = (works, tries)
            return future

        pending = as_completed([hand_out(works, 1) for works in waiting[:at_most]])
        waiting = waiting[at_most:]
        try:
            for future in pending:
                works, tries = handed.pop(future.key)
                try:
                    results = future.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker is retried; anything else fails the scope
                    if cluster.lost(exc) and tries < 3:
                        log.warning("%s: a worker was lost (%s); the scope is handed out again", kind, exc)
                        pending.add(hand_out([replace(w, retried=True) for w in works], tries + 1))
                        continue
                    results = [(w.key, "failed", f"its worker process failed: {type(exc).__name__}: {exc}")
                               for w in works]
                if waiting:  # the next scope takes this one's place
                    pending.add(hand_out(waiting.pop(0), 1))
                by_key = {w.key: w for w in works}
                for key, state, value in results:
                    rows[key] = self._result(workload, by_key[key], state, value, outcome)
                    finished += 1
                if report:
                    report(finished, len(todo), time.monotonic() - t0)
        finally:
            self._flush()

    def _result(self, workload: Workload, work: Work, state: str, value: Any, outcome: Outcome) -> dict[str, Any]:
        """An item's result recorded: failed (``value`` the message), manual (a :class:`ManualStep`) or done (an
        :class:`Applied`), from this process's pool or a worker process's."""
        kind = workload.kind
        if state == "failed":
            return self._failed(kind, work, str(value))
        if state == "manual":
            self.ledger.manual(kind, work.key, value.title, target_id=value.target_id)
            outcome.manual.append(value)
            return self._row(work, "manual", value.target_id)
        self._record_done(kind, Done(work.key, value.target_id, value.copied_hash, value.size,
                                     value.note or value.action, value.detail))
        return self._row(work, value.action, value.target_id, note=value.note)

    def _one(self, workload: Workload, work: Work, outcome: Outcome) -> dict[str, Any]:
        kind = workload.kind
        self.ledger.attempt(kind, work.key)
        try:
            existing = workload.find(work)
            result = workload.apply(work, existing)
        except TenantmoveError as exc:
            return self._failed(kind, work, exc.one_line())
        except Exception as exc:  # noqa: BLE001 - any item's failure is recorded and fails the phase
            log.warning("%s %s: unexpected %s", kind, work.key, type(exc).__name__, exc_info=True)
            return self._failed(kind, work, f"{type(exc).__name__}: {exc}")
        assert isinstance(result, Applied | ManualStep), f"{kind}.apply returned {result!r}"
        return self._result(workload, work, "manual" if isinstance(result, ManualStep) else "done", result, outcome)

    def _record_done(self, kind: str, done: Done) -> None:
        with self._pending_lock:
            self._pending.append((kind, done))
            full = len(self._pending) >= self.commit_batch or \
                time.monotonic() - self._flushed_at >= self.commit_seconds
        if full:
            self._flush()

    def _flush(self) -> None:
        """Record the done items waiting, one transaction per kind."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
            self._flushed_at = time.monotonic()
        by_kind: dict[str, list[Done]] = {}
        for kind, done in pending:
            by_kind.setdefault(kind, []).append(done)
        for kind, items in by_kind.items():
            self.ledger.done_many(kind, items)

    def _failed(self, kind: str, work: Work, message: str) -> dict[str, Any]:
        message = redact(message)
        self.ledger.failed(kind, work.key, message)
        return self._row(work, "failed", None, message)

