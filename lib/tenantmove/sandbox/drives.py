"""The sandbox's drives (OneDrive for Business and document libraries) and their items, with the rules
the service enforces: names SharePoint refuses, the 400-character path, quotas, conflict behaviour,
versions, locks, property promotion of Office files on upload, delta with deletions and expired tokens,
and a user's OneDrive that does not exist until it is provisioned.

Items are kept in one internal shape (``_item``); :func:`item_json` gives Graph's ``driveItem``."""

from __future__ import annotations

import base64
import io
import re
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .. import spnames
from .blobs import Blob
from .shapes import GraphFailure
from .state import Tenant, _stable_uuid, now_iso

OFFICE_SUFFIXES = (".docx", ".xlsx", ".pptx")
PROMOTED_PART = "docProps/custom.xml"  # what SharePoint writes into an Office file it stores
DEFAULT_QUOTA = 1024 ** 4  # 1 TiB, OneDrive for Business's default


def not_found(message: str = "The resource could not be found.") -> GraphFailure:
    return GraphFailure(404, "itemNotFound", message)


@dataclass
class Drive:
    id: str
    tenant_id: str
    owner_kind: str  # user | group | site
    owner_id: str
    owner_name: str
    drive_type: str  # business | documentLibrary
    name: str
    web_url: str
    quota_total: int = DEFAULT_QUOTA
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    root_id: str = ""
    seq: int = 0  # change counter: delta tokens are positions in it
    epoch: int = 0  # delta tokens of an earlier epoch answer 410 (resync required)
    created: str = field(default_factory=now_iso)
    admins: set[str] = field(default_factory=set)  # user ids made site collection admins (Set-SPOUser)
    list_id: str = ""  # the drive's list in its site (SharePoint's REST API addresses files through it)
    site_url: str = ""  # the site the drive is a library of (a OneDrive: its owner's personal site)
    breaks: Any = None  # a library's: item -> the permissions it copies when it first gets its own (siteaccess)
    clock: list[tuple[float, int]] = field(default_factory=list)  # (when, seq) of each change: timestamp tokens

    # --- structure ---------------------------------------------------------------------------------
    def new_item(self, parent: str | None, name: str, *, folder: bool = False, blob: Blob | None = None,
                 package: str | None = None, created: str | None = None, modified: str | None = None,
                 by: str = "", hashless: bool = False) -> dict[str, Any]:
        stamp = now_iso()
        item = {"id": "01" + _stable_uuid(self.id, "item", str(len(self.items))).replace("-", "")[:30].upper(),
                "list_item": len(self.items) + 1,  # its item in the drive's list (SharePoint's REST API numbers it)
                "name": name, "parent": parent, "folder": folder, "package": package, "blob": blob,
                "created": stamp, "modified": stamp, "fs_created": created or stamp, "fs_modified": modified or stamp,
                "version": 1, "versions": [], "seq": 0, "deleted": False, "locked": False, "by": by,
                "hashless": hashless}
        self.items[item["id"]] = item
        self.touch(item)
        return item

    def touch(self, item: dict[str, Any]) -> None:
        self.seq += 1
        item["seq"] = self.seq
        self.clock.append((time.time(), self.seq))

    def seq_at(self, when: float) -> int:
        """The change counter as it stood at ``when``: a timestamp token's position."""
        before = [seq for at, seq in self.clock if at < when]
        return before[-1] if before else 0

    def live_children(self, item_id: str) -> list[dict[str, Any]]:
        return [i for i in self.items.values() if i["parent"] == item_id and not i["deleted"]]

    def child(self, parent_id: str, name: str) -> dict[str, Any] | None:
        low = name.lower()  # SharePoint names are case-insensitive
        return next((i for i in self.live_children(parent_id) if i["name"].lower() == low), None)

    def item(self, item_id: str) -> dict[str, Any]:
        item = self.items.get(item_id)
        if item is None or item["deleted"]:
            raise not_found("Item not found")
        return item

    def path_of(self, item: dict[str, Any]) -> str:
        """``/a/b/c.txt`` below the root ("" for the root itself)."""
        names = []
        while item["parent"] is not None:
            names.append(item["name"])
            item = self.items[item["parent"]]
        return "/" + "/".join(reversed(names)) if names else ""

    def by_path(self, start_id: str, relative: str) -> dict[str, Any]:
        item = self.item(start_id)
        for name in [p for p in relative.split("/") if p]:
            found = self.child(item["id"], name)
            if found is None:
                raise not_found("The resource could not be found.")
            item = found
        return item

    def used(self) -> int:
        return sum(i["blob"].size for i in self.items.values() if i["blob"] is not None and not i["deleted"])

    def subtree(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        out, todo = [], [item]
        while todo:
            cur = todo.pop()
            out.append(cur)
            todo.extend(self.live_children(cur["id"]))
        return out

    # --- the service's rules on writes ------------------------------------------------------------------
    def check_name(self, parent: dict[str, Any], name: str) -> None:
        reasons = spnames.problems(name)
        if reasons:
            raise GraphFailure(400, "invalidRequest", f"The name '{name}' is not allowed: {'; '.join(reasons)}.")
        decoded = self.server_path(parent) + "/" + name
        if spnames.path_too_long(decoded):
            raise GraphFailure(400, "invalidRequest", f"The path is longer than {spnames.MAX_PATH} characters "
                                                      f"({len(decoded)}).")

    def server_path(self, item: dict[str, Any]) -> str:
        """The decoded server-relative path SharePoint measures (site, library and folders)."""
        site_path = self.web_url.split("://", 1)[-1].split("/", 1)[-1]
        return "/" + site_path + self.path_of(item)

    def check_writable(self, item: dict[str, Any]) -> None:
        if item["locked"]:
            raise GraphFailure(423, "resourceLocked", "The resource you are attempting to access is locked.")

    def check_quota(self, extra: int) -> None:
        if self.used() + extra > self.quota_total:
            raise GraphFailure(507, "quotaLimitReached", "Insufficient Space Available: the drive's quota is exceeded.")

    def place(self, parent: dict[str, Any], name: str, behaviour: str) -> tuple[str, dict[str, Any] | None]:
        """(name to use, existing item to replace) for a new child per ``@microsoft.graph.conflictBehavior``."""
        existing = self.child(parent["id"], name)
        if existing is None:
            return name, None
        if behaviour == "fail":
            raise GraphFailure(409, "nameAlreadyExists", "The specified item name already exists.")
        if behaviour == "rename":
            stem, dot, ext = name.rpartition(".") if "." in name[1:] else (name, "", "")
            n = 1
            while self.child(parent["id"], candidate := f"{stem} {n}{dot}{ext}"):
                n += 1
            return candidate, None
        return name, existing

    def store_file(self, parent: dict[str, Any], name: str, blob: Blob, behaviour: str,
                   fsi: dict[str, Any] | None, by: str) -> tuple[dict[str, Any], bool]:
        """Write a file as an upload does; (item, created). Office files are rewritten (promotion)."""
        self.check_writable(parent)
        self.check_name(parent, name)
        blob = promote_properties(name, blob)
        name, existing = self.place(parent, name, behaviour)
        replaced = existing["blob"].size if existing is not None and existing["blob"] is not None else 0
        self.check_quota(blob.size - replaced)
        fsi = fsi or {}
        if existing is not None:
            if existing["folder"]:
                raise GraphFailure(409, "nameAlreadyExists", "A folder with this name already exists.")
            self.check_writable(existing)
            existing["versions"].append({"id": f"{existing['version']}.0", "blob": existing["blob"],
                                         "modified": existing["modified"], "by": existing["by"]})
            existing.update(blob=blob, modified=now_iso(), version=existing["version"] + 1, by=by, hashless=False, editor=None,
                            fs_modified=fsi.get("lastModifiedDateTime") or now_iso())
            if fsi.get("createdDateTime"):
                existing["fs_created"] = fsi["createdDateTime"]
            self.touch(existing)
            return existing, False
        item = self.new_item(parent["id"], name, blob=blob, created=fsi.get("createdDateTime"),
                             modified=fsi.get("lastModifiedDateTime"), by=by)
        return item, True

    def delete(self, item: dict[str, Any]) -> None:
        if item["parent"] is None:
            raise GraphFailure(403, "accessDenied", "The root of a drive cannot be deleted.")
        for node in self.subtree(item):
            self.check_writable(node)
        for node in self.subtree(item):
            node["deleted"] = True
            self.touch(node)


def promote_properties(name: str, blob: Blob) -> Blob:
    """SharePoint's property promotion: an Office document it stores gets its own metadata part, so its size
    and hash change while the document's content stays what it was."""
    if not name.lower().endswith(OFFICE_SUFFIXES) or blob.size > 64 * 1024 * 1024:
        return blob
    data = blob.read()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as src:
            parts = [(info, src.read(info)) for info in src.infolist() if info.filename != PROMOTED_PART]
    except zipfile.BadZipFile:
        return blob  # not an Office package after all: stored as sent
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, content in parts:
            dst.writestr(info, content)
        dst.writestr(PROMOTED_PART, '<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/'
                                    'officeDocument/2006/custom-properties"><property name="ContentTypeId">'
                                    f'0x0101{uuid.uuid4().hex.upper()}</property></Properties>')
    return Blob.of(out.getvalue())


def office_document(seed: str, paragraphs: int = 20) -> bytes:
    """A small, valid Office Open XML package (deterministic per seed) for the seed's .docx files."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        fixed = (1980, 1, 1, 0, 0, 0)
        for name, text in (
            ("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                                    '2006/content-types"/>'),
            ("word/document.xml", "<document>" + "".join(f"<p>{seed} paragraph {i}</p>" for i in range(paragraphs))
             + "</document>"),
            ("docProps/core.xml", f"<coreProperties><title>{seed}</title></coreProperties>"),
        ):
            z.writestr(zipfile.ZipInfo(name, fixed), text)
    return out.getvalue()


def item_json(drive: Drive, item: dict[str, Any], base: str, *, with_path: bool = True,
              download_url: str | None = None, select: str = "") -> dict[str, Any]:
    """Graph's driveItem. ``with_path`` is False in delta answers: OneDrive for Business sends no
    ``parentReference.path`` there, clients must rebuild paths from parent ids."""
    if item["deleted"]:
        out: dict[str, Any] = {"id": item["id"], "deleted": {"state": "deleted"}, "name": item["name"]}
        if item["parent"]:
            out["parentReference"] = {"driveId": drive.id, "driveType": drive.drive_type, "id": item["parent"]}
        out["file" if not item["folder"] else "folder"] = {} if not item["folder"] else {"childCount": 0}
        return out
    path = drive.path_of(item)
    out = {
        "id": item["id"], "name": item["name"] if item["parent"] else "root",
        "createdDateTime": item["created"], "lastModifiedDateTime": item["modified"],
        "eTag": f'"{{{item["id"]}}},{item["version"]}"', "cTag": f'"c:{{{item["id"]}}},{item["version"]}"',
        "webUrl": drive.web_url + quote(path),
        "fileSystemInfo": {"createdDateTime": item["fs_created"], "lastModifiedDateTime": item["fs_modified"]},
        "createdBy": {"user": item.get("author") or {"displayName": item["by"] or drive.owner_name}},
        "lastModifiedBy": {"user": item.get("editor") or {"displayName": item["by"] or drive.owner_name}},
    }
    if item["parent"] is not None:
        ref = {"driveId": drive.id, "driveType": drive.drive_type, "id": item["parent"]}
        if with_path:
            parent_path = drive.path_of(drive.items[item["parent"]])
            ref["path"] = f"/drives/{drive.id}/root:" + parent_path
        out["parentReference"] = ref
    else:
        out["root"] = {}
        out["parentReference"] = {"driveId": drive.id, "driveType": drive.drive_type}
    if "sharepointids" in select.lower():  # only when selected, as Graph returns it
        out["sharepointIds"] = {"listId": drive.list_id, "listItemId": str(item["list_item"]),
                                "siteUrl": drive.site_url, "listItemUniqueId": _stable_uuid(drive.id, item["id"])}
    if item.get("perms"):  # shared: the item has permissions of its own (hierarchical sharing's facet)
        kinds = {p["link"]["scope"] if p["kind"] == "link" else "users" for p in item["perms"]}
        out["shared"] = {"scope": next(k for k in ("anonymous", "organization", "users") if k in kinds)}
    if item["package"]:
        out["package"] = {"type": item["package"]}
        out["size"] = sum(n["blob"].size for n in drive.subtree(item) if n["blob"] is not None)
    elif item["folder"]:
        out["folder"] = {"childCount": len(drive.live_children(item["id"]))}
        out["size"] = sum(n["blob"].size for n in drive.subtree(item) if n["blob"] is not None)
    else:
        blob = item["blob"]
        hashes = {} if item["hashless"] or blob.size == 0 else {"quickXorHash": blob.quick_xor}
        out["file"] = {"mimeType": mime_type(item["name"]), "hashes": hashes}
        out["size"] = blob.size
        if download_url:
            out["@microsoft.graph.downloadUrl"] = download_url
    return out


def mime_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {"txt": "text/plain", "pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png",
            "mp4": "video/mp4", "csv": "text/csv",
            "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            }.get(ext, "application/octet-stream")


@dataclass
class Provisioning:
    """A user's OneDrive: ready at a monotonic time once requested (``Request-SPOPersonalSite`` or sign-in)."""

    ready_at: float
    upn: str  # the user's name when it was requested: the OneDrive's URL is made from it, and keeps it

    def ready(self) -> bool:
        return time.monotonic() >= self.ready_at


def new_onedrive(tenant: Tenant, user: dict[str, Any], upn: str = "") -> Drive:
    upn = upn or user["userPrincipalName"]
    host = tenant.initial_domain.split(".")[0]
    slug = re.sub(r"[^a-z0-9]", "_", upn.lower())
    drive = Drive(id="b!" + base64.urlsafe_b64encode(_stable_uuid(tenant.id, "drive", user["id"]).encode()).decode()
                  .rstrip("=")[:48], tenant_id=tenant.id, owner_kind="user", owner_id=user["id"],
                  owner_name=user["displayName"], drive_type="business", name="OneDrive",
                  web_url=f"https://{host}-my.sharepoint.com/personal/{slug}/Documents",
                  list_id=_stable_uuid(tenant.id, "onedrive-list", user["id"]),
                  site_url=f"https://{host}-my.sharepoint.com/personal/{slug}")
    drive.root_id = drive.new_item(None, "root", folder=True)["id"]
    return drive
