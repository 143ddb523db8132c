"""The ledger: what each phase planned and did, item by item, in SQLite in the migration's state folder.

Every planned item (user, group, DNS record, file, message, ...) is one row keyed by ``(kind, source_id)``.
A row keeps the source item's *version* (eTag, cTag, changeKey or last-modified): planning an item whose
version changed puts a done item back to "planned", so a later pass copies what changed and nothing
else. The planned hash (the source's) and the copied hash (the target's) are kept apart. Every state
change is appended to ``events`` with the run that made it. Delta links are kept per kind and scope.
A ledger belongs to one pair of tenants; opening it for another pair is refused.

Writes are transactions; a process killed at any point leaves the last committed state. Only the engine
(:mod:`tenantmove.engine.engine`) walks the ledger to do work; phases read it for reports.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..clock import utc_now
from ..errors import TenantmoveError

LEDGER_FILE = "ledger.sqlite"
SCHEMA_VERSION = 2
STATES = ("planned", "done", "failed", "manual")
TODO_STATES = ("planned", "failed", "manual")  # what a (re)run works on; manual ones are checked again
REOPENED = "reopened"  # the version of a done item a verification found wrong: planning sees it changed
ITEMS_TABLE = """
CREATE TABLE IF NOT EXISTS items (
    id           INTEGER PRIMARY KEY,
    phase        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    scope        TEXT NOT NULL DEFAULT '',
    target_id    TEXT,
    name         TEXT,
    size         INTEGER,
    version      TEXT,
    planned_hash TEXT,
    copied_hash  TEXT,
    state        TEXT NOT NULL CHECK (state IN ('planned', 'done', 'failed', 'manual')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    detail       TEXT,
    created      TEXT NOT NULL,
    updated      TEXT NOT NULL,
    UNIQUE (kind, source_id)
)"""
SCHEMA = ITEMS_TABLE + """;
CREATE INDEX IF NOT EXISTS items_kind_state ON items (kind, state);
CREATE INDEX IF NOT EXISTS items_phase ON items (phase);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    item        INTEGER NOT NULL REFERENCES items (id),
    at          TEXT NOT NULL,
    run_id      TEXT,
    state       TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX IF NOT EXISTS events_item ON events (item);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS confirmations (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT,
    phase       TEXT NOT NULL,
    action      TEXT NOT NULL,
    typed       TEXT NOT NULL,
    by          TEXT NOT NULL,
    at          TEXT NOT NULL,
    via         TEXT
);
CREATE TABLE IF NOT EXISTS approvals (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT,
    phase       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    how         TEXT NOT NULL,
    by          TEXT NOT NULL,
    at          TEXT NOT NULL,
    entry       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deltas (
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    link        TEXT NOT NULL,
    updated     TEXT NOT NULL,
    run_id      TEXT,
    PRIMARY KEY (kind, scope)
);
"""


def open_read_only(path: Path) -> sqlite3.Connection:
    """A connection for readers who must change nothing (``verify``, the index pages): read-only and immutable,
    so SQLite takes no lock and creates no journal, ``-wal`` or ``-shm`` file beside the ledger."""
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    db.row_factory = sqlite3.Row
    return db


def read_confirmations(path: Path, run_id: str) -> list[dict[str, str]]:
    """The confirmations a ledger file kept for ``run_id``, read without writing anything."""
    db = open_read_only(path)
    try:
        rows = db.execute("SELECT phase, action, typed, by, at, via FROM confirmations WHERE run_id = ? ORDER BY id",
                          (run_id,)).fetchall()
    finally:
        db.close()
    return [dict(r) for r in rows]


def read_approvals(path: Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """The approvals a ledger file kept (for ``run_id``, or all), each as it was recorded, read without writing."""
    db = open_read_only(path)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'approvals'").fetchone():
            return []
        rows = db.execute("SELECT entry FROM approvals" + (" WHERE run_id = ?" if run_id is not None else "")
                          + " ORDER BY id", (run_id,) if run_id is not None else ()).fetchall()
    finally:
        db.close()
    return [json.loads(r["entry"]) for r in rows]


class LedgerError(TenantmoveError):
    """The ledger cannot be used as asked (another migration's ledger, a newer schema)."""


@dataclass
class Planned:
    """An item a phase intends to handle, as its source shows it now."""

    source_id: str
    name: str = ""
    size: int | None = None
    hash: str | None = None  # the source's hash: the planned hash
    version: str | None = None  # eTag, cTag, changeKey or last-modified: a change plans the item again
    scope: str = ""  # e.g. the mailbox or drive it lives in (concurrency limits and delta links are per scope)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Item:
    id: int
    phase: str
    kind: str
    source_id: str
    scope: str
    target_id: str | None
    name: str | None
    size: int | None
    version: str | None
    planned_hash: str | None
    copied_hash: str | None
    state: str
    attempts: int
    error: str | None
    detail: dict[str, Any]
    created: str
    updated: str


@dataclass
class PlanCounts:
    """What planning found: items seen for the first time, done items whose source changed, and the rest."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def __iadd__(self, other: PlanCounts) -> PlanCounts:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        return self


@dataclass
class Done:
    """One item to mark done in :meth:`Ledger.done_many`."""

    source_id: str
    target_id: str | None = None
    copied_hash: str | None = None
    size: int | None = None
    note: str = "done"
    detail: dict[str, Any] | None = None


def _item(row: sqlite3.Row) -> Item:
    data = dict(row)
    data["detail"] = json.loads(data["detail"]) if data["detail"] else {}
    return Item(**data)


def classify(state: str | None, stored_version: str | None, version: str | None) -> str:
    """What planning does with an item: new, changed (done before, source changed since), done before,
    retry (failed before), manual (waiting for the admin) or planned (not attempted yet)."""
    if state is None:
        return "new"
    if state in ("done", "manual") and version is not None and stored_version is not None \
            and version != stored_version:
        return "changed"
    return {"done": "done before", "failed": "retry", "manual": "manual"}.get(state, "planned")


class Ledger:
    """One SQLite file; safe to share between threads of one process (one connection, one lock)."""

    def __init__(self, path: Path, run_id: str = "", batch_size: int = 5000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.batch_size = batch_size
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._db.execute("PRAGMA foreign_keys=ON")

    @classmethod
    def in_state_dir(cls, state_dir: Path, run_id: str = "") -> Ledger:
        return cls(Path(state_dir) / LEDGER_FILE, run_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- schema ------------------------------------------------------------------------------------
    def _schema_version(self) -> int:
        has_items = self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='items'").fetchone()
        if not has_items:
            return 0
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        return int(row[0]) if row else 1

    def _migrate(self) -> None:
        """Create the schema, or bring an older ledger forward in place (one transaction)."""
        with self.transaction() as db:
            version = self._schema_version()
            if version > SCHEMA_VERSION:
                raise LedgerError(f"this ledger has schema {version}; this tenantmove knows up to {SCHEMA_VERSION}",
                                  where=str(self.path), hint="run a tenantmove at least as new as the one that wrote it")
            if version == 1:  # 0.1.0: one hash column, no version/scope, no 'manual' state, no deltas
                # SQLite's way (foreign keys are off here): build the new table, copy, drop, rename
                db.execute(ITEMS_TABLE.replace("EXISTS items", "EXISTS items_v2"))
                db.execute("INSERT INTO items_v2 (id, phase, kind, source_id, scope, target_id, name, size, version,"
                           " planned_hash, copied_hash, state, attempts, error, detail, created, updated)"
                           " SELECT id, phase, kind, source_id, '', target_id, name, size, NULL,"
                           " CASE WHEN state = 'done' THEN NULL ELSE hash END,"
                           " CASE WHEN state = 'done' THEN hash ELSE NULL END,"
                           " state, attempts, error, detail, created, updated FROM items")
                db.execute("DROP TABLE items")
                db.execute("ALTER TABLE items_v2 RENAME TO items")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            if version == 1:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_from_1', ?)", (utc_now(),))

    @property
    def schema(self) -> int:
        with self._lock:
            return self._schema_version()

    # --- the tenant pair -------------------------------------------------------------------------
    def check_tenant(self, side: str, tenant_id: str, created: str = "") -> bool:
        """Raise :class:`LedgerError` if this ledger was written for another ``side`` tenant; return whether
        it knows that side at all. ``created`` (the organization's createdDateTime) tells apart two tenants
        with the same id, e.g. a fresh sandbox behind an old state folder."""
        with self._lock:
            known = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                          (f"tenant.{side}", f"tenant.{side}.created")).fetchall())
        old_id, old_created = known.get(f"tenant.{side}"), known.get(f"tenant.{side}.created", "")
        if old_id is None:
            return False
        hint = ("give this migration its own state_dir (make demo and make lab give each run a fresh one), "
                "or sign in to the tenant this migration started with")
        if old_id.lower() != tenant_id.lower():
            raise LedgerError(f"this state folder belongs to a migration whose {side} tenant is {old_id}, not "
                              f"{tenant_id}", where=str(self.path.parent), hint=hint)
        if old_created and created and old_created != created:
            raise LedgerError(f"this state folder was written for the {side} tenant {old_id} created {old_created}; "
                              f"the tenant signed in now was created {created}: another tenant with the same id "
                              "(a fresh sandbox?)", where=str(self.path.parent), hint=hint)
        return True

    def bind_tenant(self, side: str, tenant_id: str, created: str = "") -> None:
        """Record which tenant ``side`` is, at first use; refuse a ledger that another tenant wrote."""
        with self.transaction() as db:
            if not self.check_tenant(side, tenant_id, created):
                db.execute("INSERT INTO meta VALUES (?, ?)", (f"tenant.{side}", tenant_id))
            if created:
                db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (f"tenant.{side}.created", created))

    def tenants(self) -> dict[str, str]:
        with self._lock:
            return {r[0].split(".", 1)[1]: r[1] for r in self._db.execute(
                "SELECT key, value FROM meta WHERE key LIKE 'tenant.%' AND key NOT LIKE '%.created'")}

    # --- planning ------------------------------------------------------------------------------
    def _existing(self, db: sqlite3.Connection, kind: str, ids: Sequence[str]) -> dict[str, sqlite3.Row]:
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = db.execute(f"SELECT id, source_id, state, version FROM items WHERE kind = ? AND source_id IN"
                              f" ({','.join('?' * len(chunk))})", (kind, *chunk))
            found.update({r["source_id"]: r for r in rows})
        return found

    def preview(self, kind: str, items: Iterable[Planned]) -> dict[str, str]:
        """What :meth:`plan` would do with each item (see :func:`classify`), without writing anything."""
        items = list(items)
        with self._lock:
            existing = self._existing(self._db, kind, [p.source_id for p in items])
        return {p.source_id: classify(existing[p.source_id]["state"] if p.source_id in existing else None,
                                      existing[p.source_id]["version"] if p.source_id in existing else None,
                                      p.version) for p in items}

    def plan(self, phase: str, kind: str, items: Iterable[Planned]) -> PlanCounts:
        """Add new items; put done items whose source version changed back to "planned"; refresh what is
        known of the others. Committed in batches, so millions of rows plan quickly."""
        counts = PlanCounts()
        batch: list[Planned] = []
        for item in items:
            batch.append(item)
            if len(batch) >= self.batch_size:
                counts += self._plan_batch(phase, kind, batch)
                batch = []
        if batch:
            counts += self._plan_batch(phase, kind, batch)
        return counts

    def _plan_batch(self, phase: str, kind: str, batch: list[Planned]) -> PlanCounts:
        now = utc_now()
        counts = PlanCounts()
        with self.transaction() as db:
            existing = self._existing(db, kind, [p.source_id for p in batch])
            new, changed, refresh, versioned = [], [], [], []
            for p in batch:
                row = existing.get(p.source_id)
                action = classify(row["state"] if row else None, row["version"] if row else None, p.version)
                detail = json.dumps(p.detail) if p.detail else None
                if action == "new":
                    new.append((phase, kind, p.source_id, p.scope, p.name, p.size, p.version, p.hash, detail, now, now))
                elif action == "changed":
                    changed.append((p.name, p.size, p.version, p.hash, p.scope, detail, now, row["id"]))
                elif action in ("retry", "planned", "manual"):
                    refresh.append((p.name, p.size, p.version, p.hash, p.scope, detail, now, row["id"]))
                elif row["version"] is None and p.version is not None:
                    versioned.append((p.version, row["id"]))  # done before versions were kept: remember it
            watermark = db.execute("SELECT COALESCE(MAX(id), 0) FROM items").fetchone()[0]
            db.executemany("INSERT OR IGNORE INTO items (phase, kind, source_id, scope, name, size, version,"
                           " planned_hash, state, detail, created, updated)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?)", new)
            db.execute("INSERT INTO events (item, at, run_id, state, note)"
                       " SELECT id, ?, ?, 'planned', 'planned' FROM items WHERE id > ?", (now, self.run_id, watermark))
            db.executemany("UPDATE items SET state = 'planned', error = NULL, name = ?, size = ?, version = ?,"
                           " planned_hash = ?, scope = ?, detail = COALESCE(?, detail), updated = ? WHERE id = ?",
                           changed)
            db.executemany("INSERT INTO events (item, at, run_id, state, note) VALUES (?, ?, ?, 'planned', ?)",
                           [(c[-1], now, self.run_id, f"source changed (version {c[2]})") for c in changed])
            db.executemany("UPDATE items SET name = ?, size = ?, version = ?, planned_hash = ?, scope = ?,"
                           " detail = COALESCE(?, detail), updated = ? WHERE id = ?", refresh)
            db.executemany("UPDATE items SET version = ? WHERE id = ?", versioned)
        counts.new, counts.changed = len(new), len(changed)
        counts.unchanged = len(batch) - counts.new - counts.changed
        return counts

    # --- reading -------------------------------------------------------------------------------
    def get(self, kind: str, source_id: str) -> Item | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM items WHERE kind = ? AND source_id = ?", (kind, source_id)).fetchone()
        return _item(row) if row else None

    def items(self, kind: str | None = None, states: Iterable[str] | None = None,
              phase: str | None = None) -> list[Item]:
        sql, args = "SELECT * FROM items WHERE 1=1", []
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if phase:
            sql += " AND phase = ?"
            args.append(phase)
        if states:
            states = list(states)
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += states
        with self._lock:
            return [_item(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    def source_ids(self, kind: str, scope: str, except_version: str | None = None) -> set[str]:
        """The source ids of ``kind`` in ``scope`` (leaving out those at ``except_version``)."""
        with self._lock:
            rows = self._db.execute("SELECT source_id FROM items WHERE kind = ? AND scope = ? AND"
                                    " COALESCE(version, '') != ?", (kind, scope, except_version or "\x00"))
            return {r[0] for r in rows}

    def details(self, kind: str, scope: str, except_version: str | None = None) -> dict[str, dict[str, Any]]:
        """Each row's detail of ``kind`` in ``scope`` by source id (leaving out those at ``except_version``): one
        query on the (kind, scope) rows, not a read of the whole kind."""
        with self._lock:
            rows = self._db.execute("SELECT source_id, detail FROM items WHERE kind = ? AND scope = ? AND"
                                    " COALESCE(version, '') != ?", (kind, scope, except_version or "\x00"))
            return {r[0]: json.loads(r[1]) if r[1] else {} for r in rows}

    def todo(self, kind: str) -> list[Item]:
        """What a (re)run still has to do: planned and failed items, and manual ones to check again."""
        return self.items(kind, TODO_STATES)

    def counts(self, phase: str | None = None) -> pd.DataFrame:
        sql = "SELECT phase, kind, state, COUNT(*) AS items FROM items"
        args: list[Any] = []
        if phase:
            sql += " WHERE phase = ?"
            args.append(phase)
        with self._lock:
            rows = [dict(r) for r in self._db.execute(sql + " GROUP BY phase, kind, state ORDER BY phase, kind, state",
                                                       args)]
        return pd.DataFrame(rows, columns=["phase", "kind", "state", "items"])

    def changes(self, run_id: str, phase: str) -> pd.DataFrame:
        """What one run did in one phase: its ledger events (not the plan), per kind and state, with an example."""
        sql = ("SELECT i.kind AS kind, e.state AS state, COUNT(*) AS items, MIN(e.note) AS example FROM events e "
               "JOIN items i ON e.item = i.id WHERE e.run_id = ? AND i.phase = ? AND e.state != 'planned' "
               "GROUP BY i.kind, e.state ORDER BY i.kind, e.state")
        with self._lock:
            rows = [dict(r) for r in self._db.execute(sql, (run_id, phase))]
        for row in rows:
            row["example"] = str(row["example"] or "")[:120]
        return pd.DataFrame(rows, columns=["kind", "state", "items", "example"])

    def frame(self, kind: str) -> pd.DataFrame:
        rows = [dict(i.__dict__, detail=json.dumps(i.detail) if i.detail else "") for i in self.items(kind)]
        return pd.DataFrame(rows, columns=list(Item.__dataclass_fields__))

    # --- state changes ---------------------------------------------------------------------------
    def _set(self, kind: str, source_id: str, state: str, note: str, **fields: Any) -> None:
        if state not in STATES:
            raise ValueError(state)
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:
            row = db.execute("SELECT id FROM items WHERE kind = ? AND source_id = ?", (kind, source_id)).fetchone()
            if row is None:
                raise KeyError(f"{kind} {source_id} is not in the ledger")
            db.execute(f"UPDATE items SET state = ?, updated = ?{', ' + assignments if fields else ''} WHERE id = ?",
                       (state, utc_now(), *fields.values(), row["id"]))
            db.execute("INSERT INTO events (item, at, run_id, state, note) VALUES (?, ?, ?, ?, ?)",
                       (row["id"], utc_now(), self.run_id, state, note[:2000]))

    def attempt(self, kind: str, source_id: str) -> int:
        """Count an attempt before the work starts (so a crash mid-way still shows it)."""
        with self.transaction() as db:
            db.execute("UPDATE items SET attempts = attempts + 1, updated = ? WHERE kind = ? AND source_id = ?",
                       (utc_now(), kind, source_id))
            row = db.execute("SELECT attempts FROM items WHERE kind = ? AND source_id = ?", (kind, source_id)).fetchone()
        if row is None:
            raise KeyError(f"{kind} {source_id} is not in the ledger")
        return int(row["attempts"])

    @staticmethod
    def _done_fields(d: Done) -> dict[str, Any]:
        fields: dict[str, Any] = {"error": None}
        if d.target_id is not None:
            fields["target_id"] = d.target_id
        if d.copied_hash is not None:
            fields["copied_hash"] = d.copied_hash
        if d.size is not None:
            fields["size"] = d.size
        if d.detail is not None:
            fields["detail"] = json.dumps(d.detail)
        return fields

    def done(self, kind: str, source_id: str, target_id: str | None = None, *, copied_hash: str | None = None,
             size: int | None = None, note: str = "done", detail: dict[str, Any] | None = None) -> None:
        self._set(kind, source_id, "done", note,
                  **self._done_fields(Done(source_id, target_id, copied_hash, size, note, detail)))

    def done_many(self, kind: str, items: Iterable[Done]) -> int:
        """Mark many items done in one transaction (content phases finish thousands at a time)."""
        now, count = utc_now(), 0
        with self.transaction() as db:
            for d in items:
                fields = self._done_fields(d)
                row = db.execute("SELECT id FROM items WHERE kind = ? AND source_id = ?", (kind, d.source_id)).fetchone()
                if row is None:
                    raise KeyError(f"{kind} {d.source_id} is not in the ledger")
                db.execute(f"UPDATE items SET state = 'done', updated = ?, {', '.join(f'{k} = ?' for k in fields)}"
                           " WHERE id = ?", (now, *fields.values(), row["id"]))
                db.execute("INSERT INTO events (item, at, run_id, state, note) VALUES (?, ?, ?, 'done', ?)",
                           (row["id"], now, self.run_id, d.note[:2000]))
                count += 1
        return count

    def failed(self, kind: str, source_id: str, error: str) -> None:
        self._set(kind, source_id, "failed", error, error=error[:2000])

    def manual(self, kind: str, source_id: str, reason: str, target_id: str | None = None) -> None:
        """Waiting for the admin to run a command no API can run; checked again on every run."""
        fields: dict[str, Any] = {"error": None}
        if target_id is not None:
            fields["target_id"] = target_id
        self._set(kind, source_id, "manual", reason, **fields)

    def history(self, kind: str, source_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(
                "SELECT e.at, e.run_id, e.state, e.note FROM events e JOIN items i ON i.id = e.item"
                " WHERE i.kind = ? AND i.source_id = ? ORDER BY e.id", (kind, source_id))]

    # --- confirmations: kept beside the run folder's record, so that one edited later shows -----------
    def record_confirmation(self, entry: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO confirmations (run_id, phase, action, typed, by, at, via) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       tuple(str(entry.get(k, "")) for k in ("run_id", "phase", "action", "typed", "by", "at", "via")))

    def record_approval(self, entry: dict[str, Any]) -> None:
        """A second person's approval of a plan (or of the closure), whole, beside the run folder's copy."""
        with self.transaction() as db:
            db.execute("INSERT INTO approvals (run_id, phase, digest, how, by, at, entry) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       tuple(str(entry.get(k, "")) for k in ("run_id", "phase", "digest", "how", "by", "at"))
                       + (json.dumps(entry, sort_keys=True),))

    def reopen(self, kind: str, source_ids: Iterable[str], reason: str) -> int:
        """Done items a verification found wrong in the target: the next pass of their phase does them again
        (an item that keeps versions gets the version ``reopened``, so planning sees it changed; one that keeps
        none is planned again). Each gets an event with the reason."""
        n = 0
        for source_id in source_ids:
            item = self.get(kind, source_id)
            if item is None or item.state != "done":
                continue
            if item.version is not None:
                self._set(kind, source_id, "done", f"reopened: {reason}", version=REOPENED)
            else:
                self._set(kind, source_id, "planned", f"reopened: {reason}")
            n += 1
        return n

    def forget_delta_links(self, kind: str, scope: str) -> int:
        """The links of ``scope`` (and of its ``scope|...`` parts): the next pass lists everything there again."""
        with self.transaction() as db:
            return db.execute("DELETE FROM deltas WHERE kind = ? AND (scope = ? OR scope LIKE ? || '|%')",
                              (kind, scope, scope)).rowcount

    # --- delta links ------------------------------------------------------------------------------
    def delta_link(self, kind: str, scope: str = "") -> str | None:
        """Where the last complete listing of ``kind`` in ``scope`` ended (an ``@odata.deltaLink``)."""
        with self._lock:
            row = self._db.execute("SELECT link FROM deltas WHERE kind = ? AND scope = ?", (kind, scope)).fetchone()
        return row[0] if row else None

    def save_delta_link(self, kind: str, scope: str, link: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO deltas (kind, scope, link, updated, run_id) VALUES (?, ?, ?, ?, ?)",
                       (kind, scope, link, utc_now(), self.run_id))

    # --- evidence --------------------------------------------------------------------------------
    def snapshot(self, dest: Path) -> Path:
        """A consistent, self-contained copy (SQLite's online backup) in rollback-journal mode, e.g. into the run
        folder at the end of a run: a reader who opens it with any SQLite tool and queries it leaves no ``-wal``
        or ``-shm`` file beside it (the state folder's ledger keeps WAL for its writers)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        with self._lock:
            target = sqlite3.connect(str(dest))
            try:
                self._db.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
        return dest
