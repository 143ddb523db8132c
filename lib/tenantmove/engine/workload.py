"""What a workload is: one kind of item (user, group, DNS record, file, message, ...) described by
four callables the engine runs. A workload never walks the ledger itself.

- ``list(deltas)``: what should exist, read from the source (read-only; may resume from a delta link);
- ``find(work)``: the existing target object for this item, by its natural key (UPN, mail nickname,
  path, ...), or None. The engine calls it before every ``apply``, so a run killed between "created"
  and "recorded" adopts the object on the rerun instead of creating a second one;
- ``begin(todo)``: optional, once before the items still to do (a batch step, e.g. one DNS update);
- ``apply(work, existing)``: make the target right (create, or bring ``existing`` up to date) and say
  what was done; or return a :class:`ManualStep` when only the admin can do it.

Whether everything arrived is phase 90's: it reconciles fresh reads of both tenants per area
(:mod:`tenantmove.phases.verify_and_close`), not the ledger's word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .ledger import Item, Ledger, Planned

REMOVED = "deleted"  # the version of an item deleted at the source (its target is removed too)


@dataclass
class Work:
    """One item as the source shows it now. ``data`` is what ``apply`` needs; it is not stored."""

    key: str
    name: str = ""
    version: str | None = None
    size: int | None = None
    hash: str | None = None
    scope: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    before: Item | None = None  # the ledger's row before this pass (set by the engine): target id, copied hash
    retried: bool = False  # an attempt of this pass may have landed: its worker process was lost (Dask)

    def planned(self) -> Planned:
        return Planned(self.key, self.name, self.size, self.hash, self.version, self.scope, self.detail)


@dataclass
class Applied:
    """What ``apply`` did: ``action`` is a past participle (created, adopted, updated, renamed, removed...)."""

    target_id: str | None
    action: str
    copied_hash: str | None = None
    size: int | None = None
    detail: dict[str, Any] | None = None
    note: str = ""


@dataclass
class ManualStep:
    """Work no API can do: the exact commands for the admin, and what the next run checks."""

    key: str
    title: str
    commands: list[str]
    check: str = ""
    target_id: str | None = None  # what exists already (an item made, waiting only for the admin's step)


class DeltaLinks:
    """A workload's delta links, per scope. New links are staged and only kept once every item of the
    pass is done, so a pass that fails lists the same changes again next time."""

    def __init__(self, ledger: Ledger | None, kind: str) -> None:
        self.ledger, self.kind = ledger, kind
        self.staged: dict[str, str] = {}

    def get(self, scope: str = "") -> str | None:
        return self.ledger.delta_link(self.kind, scope) if self.ledger is not None else None

    def known(self, scope: str) -> set[str]:
        """The keys the ledger holds for this scope and that were not removed: after a full listing, the
        ones no longer listed were deleted at the source."""
        if self.ledger is None:
            return set()
        return self.ledger.source_ids(self.kind, scope, except_version=REMOVED)

    def details(self, kinds: tuple[str, ...], scope: str) -> dict[str, dict[str, Any]]:
        """Each ledger row's detail (as planned or done) in ``scope`` for ``kinds``, by key; removed ones left out.
        E.g. which target path each item of a drive holds, so that a new item never takes one already held."""
        if self.ledger is None:
            return {}
        return {key: detail for kind in kinds for key, detail in self.ledger.details(kind, scope, REMOVED).items()}

    def stage(self, scope: str, link: str) -> None:
        self.staged[scope] = link

    def commit(self) -> int:
        if self.ledger is not None:
            for scope, link in self.staged.items():
                self.ledger.save_delta_link(self.kind, scope, link)
        return len(self.staged)


class Workload:
    """Base class: set the class attributes, implement ``list``, ``find`` and ``apply``."""

    kind: str = ""  # the ledger's kind
    title: str = ""  # what the tables call these items
    destructive: bool = False  # applying needs the typed confirmation
    scope_limit: int = 0  # at most this many items at once in one scope (0: only the worker pool limits)
    manual_shell: str = ""  # for manual steps: where the admin runs them
    manual_preamble: tuple[str, ...] = ()  # e.g. the Connect-... command
    distributable: bool = False  # its scopes may run in a cluster's worker processes (:meth:`remote_scope`)
    shared_budget: bool = False  # its service's budget is per app and tenant (SharePoint): shared by every process

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        raise NotImplementedError

    def begin(self, todo: list[Work]) -> None:
        """Called once before the items still to do are applied (e.g. one DNS update for all records)."""

    def find(self, work: Work) -> Any | None:
        return None

    def apply(self, work: Work, existing: Any | None) -> Applied | ManualStep:
        raise NotImplementedError

    def differs(self, work: Work, existing: Any | None) -> str:
        """Phase 90's question of an item, from ``find``'s fresh read of the target: what differs from the source,
        in a phrase ("" when nothing does). A workload that answers it is reconciled by :func:`~tenantmove.phases.
        checks.workload_check` with no code of its own."""
        raise NotImplementedError(f"{type(self).__name__} does not reconcile itself")

    def remote_scope(self, signin: Any) -> Callable[[], Workload]:
        """For a ``distributable`` workload: how one of its scopes runs in a cluster's worker process
        (:mod:`.cluster`): a picklable callable that makes, in that process, a workload able to ``begin``, ``find``
        and ``apply`` the scope's works (``signin``: a :class:`~tenantmove.services.remote.RemoteSignIn`, for the
        worker to sign in itself)."""
        raise NotImplementedError(f"{type(self).__name__} runs only in the notebook's own thread pool")

    def combine_manual(self, steps: list[ManualStep]) -> list[ManualStep]:
        """The manual steps as the script shows them (e.g. many users in one command where a cmdlet takes
        a list); by default one step per item."""
        return steps
