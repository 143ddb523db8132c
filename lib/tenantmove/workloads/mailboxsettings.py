"""Each moving mailbox's settings (``/users/{id}/mailboxSettings``): automatic replies with their schedule and
audience, working hours, time zone, language, date and time formats, and how a delegate gets meeting messages.
Written where they differ, before the items arrive. The archive folder is left as the new mailbox has it (it names a
folder by id)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, Work, Workload
from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphNotFound, path
from .addresses import Owner

CARRIED = ("automaticRepliesSetting", "workingHours", "timeZone", "language", "dateFormat", "timeFormat",
           "delegateMeetingMessageDeliveryOptions")


def settings_of(client: GraphClient, user: str) -> dict[str, Any] | None:
    """The carried settings as compared: the language by its locale (its display name is the service's)."""
    try:
        raw = client.get(path("users", user, "mailboxSettings"), expected=(404,))
    except GraphNotFound:
        return None  # no mailbox (yet)
    out = {k: raw.get(k) for k in CARRIED if raw.get(k) is not None}
    if isinstance(out.get("language"), dict):
        out["language"] = {"locale": out["language"].get("locale")}
    return out


def differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in old.items() if new.get(k) != v)


class MailboxSettings(Workload):
    kind = "mailbox-settings"
    title = "mailbox settings (automatic replies, working hours, regional)"

    def __init__(self, old: GraphClient, new: GraphClient, owners: list[Owner]) -> None:
        self.old, self.new, self.owners = old, new, owners

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.owners:
            values = settings_of(self.old, owner.old)
            if values is None:
                continue
            version = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
            replies = (values.get("automaticRepliesSetting") or {}).get("status", "disabled")
            yield Work(owner.name.lower(), owner.name, version=version,
                       detail={"upn": owner.new, "automatic replies": replies}, data=(owner, values))

    def find(self, work: Work) -> dict[str, Any] | None:
        return settings_of(self.new, work.data[0].new)

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        if existing is None:
            return "no mailbox in the new tenant"
        names = differing(work.data[1], existing)
        return f"differs: {', '.join(names)}" if names else ""

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        owner, values = work.data
        if existing is None:
            raise TenantmoveError(f"{owner.new} has no mailbox in the new tenant yet", hint="assign a licence with "
                                  "Exchange (phase 30) and rerun this phase once the mailbox exists")
        names = differing(values, existing)
        if not names:
            return Applied(owner.new, "already so", detail=work.detail)
        self.new.patch(path("users", owner.new, "mailboxSettings"), {k: values[k] for k in names})
        return Applied(owner.new, "updated", detail={**work.detail, "written": names})
