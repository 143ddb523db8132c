"""OneDrive and SharePoint files through Graph, the way rclone's OneDrive backend treats them:

- listing by ``delta`` (the link kept for the next pass; 410 means start over with a full listing);
- downloads streamed from the pre-authenticated URL (no ``Authorization`` header), never held whole;
- uploads: one ``PUT`` for small files, otherwise an upload session in fragments that are multiples of
  320 KiB (and under 60 MiB), resumed from ``nextExpectedRanges`` after a failed fragment, started over
  when the session expired; ``fileSystemInfo`` and the conflict behaviour go with the session's item;
- ``quickXorHash`` computed while the bytes stream past.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from ..quickxor import QuickXorHash
from .graph import GraphClient, GraphError, GraphNotFound, path

log = logging.getLogger("tenantmove.drives")

FRAGMENT_UNIT = 320 * 1024
FRAGMENT = 32 * FRAGMENT_UNIT  # 10 MiB: a multiple of 320 KiB, well under 60 MiB
SIMPLE_MAX = 4 * 1024 * 1024  # up to this size one PUT (and a PATCH for the dates)
READ_PIECE = 1024 * 1024


class DeltaExpired(Exception):
    """410 on a delta link: the service no longer knows that point; list everything again, from ``restart`` (the
    fresh enumeration the service names in ``Location``) when it gave one."""

    def __init__(self, message: str, restart: str | None = None) -> None:
        super().__init__(message)
        self.restart = restart


@dataclass
class Copied:
    """What an upload produced: the target item, and the quickXorHash of the bytes that went up."""

    item: dict[str, Any]
    sent_hash: str
    size: int


def mysite_missing(exc: GraphError) -> bool:
    return exc.status == 404 and ("mysite" in exc.graph_message.lower() or exc.code == "ResourceNotFound")


class DriveClient:
    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph

    # --- drives and items -----------------------------------------------------------------------------
    def user_exists(self, user: str) -> bool:
        try:
            self.graph.get(path("users", user), {"$select": "id"}, expected=(404,))
            return True
        except GraphNotFound:
            return False

    def user_drive(self, user: str) -> dict[str, Any] | None:
        """The user's OneDrive, or None while it does not exist."""
        try:
            return self.graph.get(path("users", user, "drive"), expected=(404,))
        except GraphNotFound as exc:
            if mysite_missing(exc):
                return None
            raise

    def item_by_path(self, drive_id: str, relative: str) -> dict[str, Any] | None:
        if not relative.strip("/"):
            return self.graph.get(path("drives", drive_id, "root"))
        segments = "/".join(path(p) for p in relative.strip("/").split("/"))
        try:
            return self.graph.get(f"{path('drives', drive_id)}/root:/{segments}", expected=(404,))
        except GraphNotFound:
            return None

    def delta(self, drive_id: str, link: str | None) -> tuple[list[dict[str, Any]], str]:
        """Every change since ``link`` (everything when None) and the link for next time. Raises
        :class:`DeltaExpired` on 410."""
        url = link or f"{path('drives', drive_id)}/root/delta"
        items: list[dict[str, Any]] = []
        while True:
            try:
                body = self.graph.get(url, expected=(410,))
            except GraphError as exc:
                if exc.status == 410:
                    raise DeltaExpired(exc.one_line(), exc.location) from exc
                raise
            items.extend(body.get("value", []))
            if body.get("@odata.nextLink"):
                url = body["@odata.nextLink"]
                continue
            return items, body["@odata.deltaLink"]

    def create_folder(self, drive_id: str, parent_id: str, name: str, fsi: dict[str, Any] | None = None,
                      ) -> tuple[dict[str, Any], bool]:
        """(folder, created): an existing folder of that name is adopted, never duplicated."""
        body: dict[str, Any] = {"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}
        if fsi:
            body["fileSystemInfo"] = fsi
        try:
            return self.graph.request("POST", path("drives", drive_id, "items", parent_id, "children"), json=body,
                                      idempotent=True, expected=(409,)).json(), True
        except GraphError as exc:
            if exc.status != 409:
                raise
        existing = self.graph.get(f"{path('drives', drive_id, 'items', parent_id)}:/{path(name)}")
        return existing, False

    def patch_item(self, drive_id: str, item_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.graph.patch(path("drives", drive_id, "items", item_id), changes)

    def delete_item(self, drive_id: str, item_id: str) -> bool:
        try:
            self.graph.delete(path("drives", drive_id, "items", item_id), expected=(404,))
            return True
        except GraphNotFound:
            return False

    # --- content ------------------------------------------------------------------------------------
    def open_download(self, item: dict[str, Any], drive_id: str = "", offset: int = 0) -> requests.Response:
        """A streaming response for the item's bytes from ``offset``: the pre-authenticated URL the listing
        gave, or the one ``/content`` redirects to (no Authorization header goes there)."""
        url = item.get("@microsoft.graph.downloadUrl")
        if not url:
            resp = self.graph.request("GET", path("drives", drive_id or item["parentReference"]["driveId"],
                                                  "items", item["id"], "content"), allow_redirects=False)
            url = resp.headers["Location"]
            resp.close()
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return self.graph.request("GET", url, stream=True, authenticated=False, headers=headers)

    def stream(self, item: dict[str, Any], drive_id: str = "", offset: int = 0) -> Iterator[bytes]:
        with self.open_download(item, drive_id, offset) as resp:
            yield from resp.iter_content(READ_PIECE)

    def upload(self, drive_id: str, parent_id: str, name: str, size: int,
               reader: Callable[[int], Iterator[bytes]], fsi: dict[str, Any] | None,
               conflict: str = "replace") -> Copied:
        """Upload ``size`` bytes that ``reader(offset)`` streams from ``offset``; small files by one PUT,
        the rest by an upload session."""
        if size <= SIMPLE_MAX:
            hasher = QuickXorHash()
            data = bytearray()
            for piece in reader(0):
                data += piece
            hasher.update(data)
            target = f"{path('drives', drive_id, 'items', parent_id)}:/{path(name)}:/content"
            item = self.graph.request("PUT", target, data=bytes(data), idempotent=True,
                                      params={"@microsoft.graph.conflictBehavior": conflict},
                                      headers={"Content-Type": "application/octet-stream"}).json()
            if fsi:
                item = self.patch_item(drive_id, item["id"], {"fileSystemInfo": fsi})
            return Copied(item, hasher.b64digest(), len(data))
        return self._session_upload(drive_id, parent_id, name, size, reader, fsi, conflict)

    def _session_upload(self, drive_id: str, parent_id: str, name: str, size: int,
                        reader: Callable[[int], Iterator[bytes]], fsi: dict[str, Any] | None,
                        conflict: str) -> Copied:
        spec: dict[str, Any] = {"@microsoft.graph.conflictBehavior": conflict}
        if fsi:
            spec["fileSystemInfo"] = fsi
        target = f"{path('drives', drive_id, 'items', parent_id)}:/{path(name)}:/createUploadSession"
        for _ in range(3):  # a session that expires is started over, from byte 0
            session = self.graph.post(target, {"item": spec}, idempotent=True)
            try:
                return self._send_fragments(session["uploadUrl"], size, reader)
            except GraphNotFound:
                log.info("upload session for %s expired: starting over", name)
        raise GraphError(404, "uploadSessionExpired", f"the upload sessions for {name} kept expiring",
                         hint="rerun: the file is copied again from the start")

    def _send_fragments(self, url: str, size: int, reader: Callable[[int], Iterator[bytes]]) -> Copied:
        hasher, hashed = QuickXorHash(), 0
        pos = 0
        source = _Fragments(reader, 0)
        while True:
            fragment = source.take(FRAGMENT)
            end = pos + len(fragment) - 1
            if pos + len(fragment) > hashed:  # hash each byte once, in order, even when a range is re-sent
                hasher.update(memoryview(fragment)[hashed - pos:])
                hashed = pos + len(fragment)
            try:
                resp = self.graph.request("PUT", url, data=bytes(fragment), authenticated=False, idempotent=True,
                                          headers={"Content-Range": f"bytes {pos}-{end}/{size}",
                                                   "Content-Type": "application/octet-stream"})
            except GraphNotFound:
                raise
            except GraphError as exc:
                if exc.status not in (None, 416, 500, 502, 503, 504):
                    raise  # refused (quota, lock, name...): sending it again cannot help
                resume = self._next_expected(url)
                log.info("fragment %d-%d failed (%s): resuming at %d", pos, end, exc.status, resume)
                if resume is None:
                    raise
                source.close()
                source = _Fragments(reader, resume)
                pos = resume
                continue
            if resp.status_code in (200, 201):
                source.close()
                return Copied(resp.json(), hasher.b64digest(), size)
            ranges = resp.json().get("nextExpectedRanges") or [f"{end + 1}-"]
            nxt = int(str(ranges[0]).split("-")[0])
            pos = end + 1
            if nxt != pos:  # the service kept less than was sent: send from where it says
                source.close()
                source = _Fragments(reader, nxt)
                pos = nxt

    def _next_expected(self, url: str) -> int | None:
        body = self.graph.request("GET", url, authenticated=False).json()
        ranges = body.get("nextExpectedRanges") or []
        return int(str(ranges[0]).split("-")[0]) if ranges else None


class _Fragments:
    """Cuts a byte stream into fragments; holds at most one fragment in memory."""

    def __init__(self, reader: Callable[[int], Iterator[bytes]], offset: int) -> None:
        self.pieces = reader(offset)
        self.spare = b""

    def take(self, size: int) -> bytearray:
        out = bytearray(self.spare)
        self.spare = b""
        while len(out) < size:
            piece = next(self.pieces, None)
            if piece is None:
                break
            out += piece
        if len(out) > size:
            self.spare = bytes(out[size:])
            del out[size:]
        return out

    def close(self) -> None:
        close = getattr(self.pieces, "close", None)
        if close is not None:
            close()
