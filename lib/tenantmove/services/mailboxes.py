"""Exchange mailboxes through Graph v1.0's mailbox import/export API: every item (mail, events, contacts,
tasks, notes) leaves as an opaque stream "in full fidelity" and arrives the same way, so nothing is sent:
no drafts, no meeting invitations. Exports go 20 items to a request; imports go one item to a POST on a
pre-authenticated URL that expires (a new session is made then)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .graph import GraphClient, GraphError, GraphNotFound, path
from .pacing import Budget, ByteWindow, Pacer

EXPORT_BATCH = 20
# Exchange's limits per app and mailbox, less a tenth kept in hand: 10,000 requests per 10 minutes, 4 at once,
# 150 MB uploaded per 5 minutes.
MAILBOX_REQUESTS, MAILBOX_AT_ONCE, MAILBOX_BYTES = Budget(9_000, 600.0), 4, (135_000_000, 300.0)


class MailboxClient:
    """Paced per mailbox under Exchange's limits, so that a big mailbox waits for its budget instead of
    running into 429s (which are honoured all the same)."""

    def __init__(self, graph: GraphClient, requests: Budget = MAILBOX_REQUESTS,
                 upload: tuple[int, float] = MAILBOX_BYTES) -> None:
        self.graph = graph
        self.budget, self.upload = requests, upload
        self._sessions: dict[str, tuple[str, float]] = {}  # mailbox -> (importUrl, monotonic expiry)
        self._lock = threading.Lock()
        self._pacers: dict[str, tuple[Pacer, ByteWindow]] = {}

    def pace(self, mailbox: str) -> tuple[Pacer, ByteWindow]:
        with self._lock:
            if mailbox not in self._pacers:
                self._pacers[mailbox] = (Pacer([self.budget], MAILBOX_AT_ONCE), ByteWindow(*self.upload))
            return self._pacers[mailbox]

    def paced_seconds(self) -> float:
        with self._lock:
            return round(sum(p.waited + b.waited for p, b in self._pacers.values()), 1)

    def _call(self, mailbox: str, send: Callable[[], Any], upload: int = 0) -> Any:
        pacer, window = self.pace(mailbox)
        entry = window.take(upload) if upload else None
        pacer.acquire()
        status: int | None = None
        try:
            result = send()
            status = 200
            return result
        except GraphError as exc:
            status = exc.status
            raise
        finally:
            pacer.release(status)
            if entry is not None:
                window.done(entry)

    def mailbox_id(self, user: str) -> str | None:
        """The user's primary mailbox, or None while there is none (no Exchange licence, or provisioning)."""
        try:
            return str(self.graph.get(f"{path('users', user)}/settings/exchange", expected=(404,))["primaryMailboxId"])
        except GraphNotFound:
            return None

    def base(self, mailbox: str) -> str:
        return f"admin/exchange/mailboxes/{path(mailbox)}"

    def folders(self, mailbox: str) -> list[dict[str, Any]]:
        return self._call(mailbox, lambda: self.graph.get_all(f"{self.base(mailbox)}/folders/delta"))

    def create_folder(self, mailbox: str, parent: str | None, name: str, kind: str) -> dict[str, Any]:
        where = f"{self.base(mailbox)}/folders" + (f"/{path(parent)}/childFolders" if parent else "")
        return self._call(mailbox, lambda: self.graph.post(where, {"displayName": name, "type": kind}))

    def items_delta(self, mailbox: str, folder: str, link: str | None) -> tuple[list[dict[str, Any]], str]:
        url = link or f"{self.base(mailbox)}/folders/{path(folder)}/items/delta"
        items: list[dict[str, Any]] = []
        while True:
            body = self._call(mailbox, lambda u=url: self.graph.get(u))
            items += body.get("value", [])
            if body.get("@odata.nextLink"):
                url = body["@odata.nextLink"]
                continue
            return items, body["@odata.deltaLink"]

    def items(self, mailbox: str, folder: str) -> list[dict[str, Any]]:
        return self._call(mailbox, lambda: self.graph.get_all(f"{self.base(mailbox)}/folders/{path(folder)}/items"))

    def export(self, mailbox: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """``exportItems`` for up to 20 ids: id -> {data, changeKey} or {error}."""
        if not 0 < len(ids) <= EXPORT_BATCH:
            raise ValueError(f"exportItems takes 1 to {EXPORT_BATCH} ids, not {len(ids)}")
        body = self._call(mailbox, lambda: self.graph.post(f"{self.base(mailbox)}/exportItems", {"itemIds": ids},
                                                           idempotent=True))
        return {str(e["itemId"]): e for e in body.get("value", [])}

    def _import_url(self, mailbox: str, fresh: bool = False) -> str:
        with self._lock:
            known = self._sessions.get(mailbox)
            if known and not fresh and known[1] > time.monotonic() + 30:
                return known[0]
        session = self._call(mailbox, lambda: self.graph.post(f"{self.base(mailbox)}/createImportSession",
                                                              idempotent=False))
        expiry = time.monotonic() + 3600  # the service says when; an early 401 makes a new one anyway
        with self._lock:
            self._sessions[mailbox] = (session["importUrl"], expiry)
        return str(session["importUrl"])

    def import_item(self, mailbox: str, folder: str, data: str, item_id: str | None = None) -> dict[str, Any]:
        """One item into ``folder`` (``item_id``: update that item instead); a new session if it expired."""
        body = {"FolderId": folder, "Mode": "update" if item_id else "create", "Data": data}
        if item_id:
            body["ItemId"] = item_id
        for fresh in (False, True):
            url = self._import_url(mailbox, fresh)
            try:
                return self._call(mailbox, lambda u=url: self.graph.request(
                    "POST", u, json=body, authenticated=False, idempotent=False, expected=(401,)).json(),
                    upload=len(data))
            except GraphError as exc:
                if exc.status != 401 or fresh:
                    raise
        raise AssertionError("unreachable")
