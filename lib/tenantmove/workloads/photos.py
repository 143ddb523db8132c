"""Each moving person's profile photo: read from the old tenant and put on the new user (``PUT
/users/{id}/photo/$value``), compared by hash. A photo the new tenant refuses (too big, not JPEG or PNG) fails the
person's item with the reason and the fix; the rest go on."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, Work, Workload
from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphError, GraphNotFound, path
from .addresses import Owner


def photo_bytes(client: GraphClient, user: str) -> bytes | None:
    try:
        return client.request("GET", path("users", user, "photo", "$value"), expected=(404,)).content
    except GraphNotFound:
        return None


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Photos(Workload):
    kind = "photo"
    title = "profile photos"

    def __init__(self, old: GraphClient, new: GraphClient, owners: list[Owner]) -> None:
        self.old, self.new, self.owners = old, new, owners

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for owner in self.owners:
            try:
                meta = self.old.get(path("users", owner.old, "photo"), expected=(404,))
            except GraphNotFound:
                continue  # no photo: nothing to carry
            yield Work(owner.name.lower(), owner.name, version=str(meta.get("@odata.mediaEtag") or ""),
                       detail={"upn": owner.new, "type": meta.get("@odata.mediaContentType")}, data=owner)

    def find(self, work: Work) -> str | None:
        data = photo_bytes(self.new, work.data.new)
        return None if data is None else digest(data)

    def differs(self, work: Work, existing: str | None) -> str:
        data = photo_bytes(self.old, work.data.old)
        if data is None or existing == digest(data):
            return ""
        return "no photo in the new tenant" if existing is None else "the photo differs"

    def apply(self, work: Work, existing: str | None) -> Applied:
        owner: Owner = work.data
        data = photo_bytes(self.old, owner.old)
        if data is None:
            return Applied(owner.new, "already so", detail={**work.detail, "note": "the old photo was removed"})
        if existing == digest(data):
            return Applied(owner.new, "already so", detail=work.detail)
        kind: Any = work.detail.get("type") or "image/jpeg"
        try:
            self.new.request("PUT", path("users", owner.new, "photo", "$value"), data=data,
                             headers={"Content-Type": str(kind)}, idempotent=True)
        except GraphError as exc:
            if exc.status in (400, 413, 415):
                raise TenantmoveError(f"the new tenant refused {owner.new}'s photo ({len(data)} bytes, {kind}): "
                                      f"{exc.graph_message}", hint="save a smaller JPEG or PNG (at most 4 MB) in the "
                                      "Microsoft 365 admin centre, or let the person upload one; the next run reads it "
                                      "back") from exc
            raise
        return Applied(owner.new, "copied", detail={**work.detail, "bytes": len(data)})
