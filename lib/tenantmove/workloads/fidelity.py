"""Did every item arrive as it was? Each side's mail, events, contacts and To Do tasks are read through the
ordinary endpoints and reduced to what a user sees of them (a signature: subject, times, read state, sender,
categories, attachments by name, size and hash; a series with its moved and cancelled occurrences; a contact
with its photo; a task with its list, checklist, linked resources and attachments). The two sides are
compared as multisets: an item is identical when the new mailbox holds one with the same signature; what is
left on the old side is missing (or changed), what is left on the new side is extra (or a duplicate)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import pandas as pd

from ..services.outlook import OutlookClient
from .mailwindow import arrived_since

KINDS = ("mail", "events", "contacts", "tasks")
COLUMNS = ["mailbox", "kind", "old", "new", "identical", "missing or changed", "extra or duplicate",
           "arrived since mail moved"]


def _sig(*parts: Any) -> str:
    return json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _address(value: Any) -> str:
    return str(((value or {}).get("emailAddress") or {}).get("address", "")).lower()


def signatures(reader: OutlookClient, user: str) -> dict[str, Counter[str]]:
    """Each kind's items in ``user``'s mailbox as signatures (how many of each)."""
    out: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for m in reader.messages(user):
        attached = sorted((len(b), _digest(b)) for b in reader.message_attachments(user, m["id"])) \
            if m.get("hasAttachments") else []
        out["mail"][_sig(m.get("subject"), m.get("receivedDateTime"), m.get("isRead"), m.get("isDraft"),
                         _address(m.get("from")), sorted(m.get("categories") or []), attached)] += 1
    for e in reader.events(user):
        moved = sorted(_sig(x.get("originalStart"), x.get("subject"), x.get("start"))
                       for x in e.get("exceptionOccurrences") or [])
        out["events"][_sig(e.get("subject"), e.get("start"), e.get("end"), e.get("recurrence"),
                           sorted(_address(a) for a in e.get("attendees") or []),
                           sorted(e.get("cancelledOccurrences") or []), moved)] += 1
    for c in reader.contacts(user):
        emails = sorted(str(a.get("address", "")).lower() for a in c.get("emailAddresses") or [])
        out["contacts"][_sig(c.get("displayName"), emails, _digest(reader.contact_photo(user, c["id"])))] += 1
    for todo in reader.todo_lists(user):
        for t in reader.tasks(user, todo["id"]):
            files = sorted((a.get("name"), a.get("size")) for a in reader.task_attachments(user, todo["id"], t["id"])) \
                if t.get("hasAttachments") else []
            out["tasks"][_sig(todo.get("displayName"), t.get("title"), t.get("status"),
                              [(c.get("displayName"), c.get("isChecked")) for c in t.get("checklistItems") or []],
                              sorted((r.get("webUrl"), r.get("applicationName"), r.get("displayName"))
                                     for r in t.get("linkedResources") or []), files)] += 1
    return out


def compare(old: OutlookClient, new: OutlookClient, pairs: list[tuple[str, str, str]],
            since: str = "", shared: frozenset[str] = frozenset()) -> pd.DataFrame:
    """``pairs``: (mailbox shown, old user key, new user key); one row per mailbox and kind. Mail only the new side
    has that was received at or after ``since`` (when mail stopped in phase 20) arrived there as new mail: it is
    counted apart, not as extra. A ``shared`` mailbox (a merge: the new mailbox holds another migration's items too)
    is checked for what is missing only: what else it holds is not this migration's (its folders' counts find a
    duplicate)."""
    rows = []
    for name, old_user, new_user in pairs:
        before, after = signatures(old, old_user), signatures(new, new_user)
        for kind in KINDS:
            same = sum((before[kind] & after[kind]).values())
            extra = after[kind] - before[kind] if name not in shared else Counter()
            arrived = sum(n for sig, n in extra.items() if kind == "mail" and since
                          and arrived_since(json.loads(sig)[1], since))
            rows.append({"mailbox": name, "kind": kind, "old": sum(before[kind].values()),
                         "new": sum(after[kind].values()), "identical": same,
                         "missing or changed": sum((before[kind] - after[kind]).values()),
                         "extra or duplicate": sum(extra.values()) - arrived, "arrived since mail moved": arrived})
    return pd.DataFrame(rows, columns=COLUMNS)
