"""OneDrives from the seed spec. Per tenant, ``drives:`` lists drives by owner with their folders and
files; ``generated.files_per_user`` gives every generated user's OneDrive a few files. Content is
generated from a seed when read (see :mod:`.blobs`), so large files cost nothing in the seed.

A file entry: ``{path: "Plans/Budget.xlsx", size: "40 KiB" | "300 MiB" | 1234, office: true,
versions: 3, hashless: true, package: oneNote, modified: "2019-05-01T10:00:00Z", author: upn, editor: upn}``
(a OneDrive's files are its owner's unless the entry says; someone who left: ``{name: ..., email: ...}``). Users listed under
``no_onedrive`` never signed in: their OneDrive does not exist (Graph answers "mysite not found"). A drive's
``shares:`` are the people, groups and links its items are shared with (:func:`.sharing.seed`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import sharing
from .blobs import Blob
from .drives import Drive, new_onedrive, office_document
from .state import Store, Tenant

SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?\s*$")
UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def parse_size(value: Any) -> int:
    if isinstance(value, int):
        return value
    match = SIZE_RE.match(str(value))
    if not match:
        raise ValueError(f"size {value!r}: write a number of bytes or e.g. '40 KiB', '300 MiB'")
    return int(float(match.group(1)) * UNITS[match.group(2)])


def seed_drives(store: Store) -> Iterator[Drive]:
    """Tenants with ``onedrive: provisioned`` give every licensed user a OneDrive (all signed in once) except
    those under ``no_onedrive``; elsewhere only the drives listed exist until provisioning is requested."""
    specs = {t["id"]: t for t in store.seed["tenants"]}
    for tenant in store.tenants.values():
        tspec = specs.get(tenant.id, {})
        never = {u.lower() for u in tspec.get("no_onedrive", [])}
        listed = {str(d["owner"]).lower(): d for d in tspec.get("drives", [])}
        everyone = tspec.get("onedrive", "on_request") == "provisioned"
        per_user = int((tspec.get("generated") or {}).get("files_per_user", 0))
        large = round(float((tspec.get("generated") or {}).get("large_file_mib_per_scale", 0)) * (store.scale - 1))
        large_done = False
        for user in tenant.users.values():
            upn = user["userPrincipalName"].lower()
            if upn in never or not (upn in listed or (everyone and user["assignedLicenses"])):
                continue
            drive = new_onedrive(tenant, user)
            generated = user.get("jobTitle") == "Staff"  # the seed's generated users
            fill(drive, listed.get(upn) or {"files": _generated_files(per_user if generated else 0)}, tenant)
            if generated and not large_done and large:  # at scale: one large file, made from a generator
                fill(drive, {"files": [{"path": "Video/recording.mp4", "size": f"{large} MiB"}]}, tenant)
                large_done = True
            yield drive


def _generated_files(count: int) -> list[dict[str, Any]]:
    sizes = ["0", "1 KiB", "37 KiB", "300 KiB", "1 MiB", "3 MiB"]
    files: list[dict[str, Any]] = []
    for i in range(count):
        folder = ["Documents", "Documents/Archive", "Pictures"][i % 3]
        files.append({"path": f"{folder}/file-{i:03d}.bin", "size": sizes[i % len(sizes)]})
    if count:
        files.append({"path": "Documents/Notes.docx", "office": True})
    return files


def fill(drive: Drive, spec: dict[str, Any], tenant: Tenant) -> None:
    """Create the spec's folders and files in ``drive`` (the seed bypasses the name rules: an old tenant holds
    names that a new one refuses)."""
    if spec.get("quota"):
        drive.quota_total = parse_size(spec["quota"])
    for folder in spec.get("folders", []):
        ensure_folder(drive, folder)
    for entry in spec.get("files", []):
        path = str(entry["path"])
        parent_path, _, name = path.rpartition("/")
        parent = ensure_folder(drive, parent_path)
        if entry.get("package"):
            package = drive.new_item(parent["id"], name, folder=False, package=str(entry["package"]))
            for section in ("Quick Notes.one", "Projects.one"):
                drive.new_item(package["id"], section, blob=Blob.generated(24 * 1024, f"{drive.id}{path}{section}"))
            continue
        seed = f"{tenant.id}{drive.id}{path}"
        versions = int(entry.get("versions", 1))
        item = None
        for version in range(versions):
            blob = (Blob.of(office_document(f"{seed}#{version}")) if entry.get("office")
                    else Blob.generated(parse_size(entry.get("size", 0)), f"{seed}#{version}"))
            if item is None:
                item = drive.new_item(parent["id"], name, blob=blob, hashless=bool(entry.get("hashless")),
                                      created=entry.get("created"), modified=entry.get("modified"))
                owner = tenant.users.get(drive.owner_id) if drive.owner_kind == "user" else None
                item["author"] = identity(tenant, entry.get("author")) or identity(tenant, owner and owner["id"])
                item["editor"] = identity(tenant, entry.get("editor")) or item["author"]
            else:
                item["versions"].append({"id": f"{item['version']}.0", "blob": item["blob"],
                                         "modified": item["modified"], "by": item["by"]})
                item.update(blob=blob, version=item["version"] + 1)
                drive.touch(item)
    sharing.seed(tenant, drive, spec.get("shares", []))


def identity(tenant: Tenant, who: Any) -> dict[str, Any] | None:
    """A seeded author or editor as Graph shows them: a user of the tenant (by UPN or id), or someone who has left
    (``{name, email}``: no account any more)."""
    if not who:
        return None
    if isinstance(who, dict):
        return {"displayName": who["name"], "email": who["email"]}
    user = tenant.find_user(str(who))
    if user is None:
        raise ValueError(f"seed: no user {who} in {tenant.initial_domain}")
    return {"displayName": user["displayName"], "id": user["id"], "email": user["userPrincipalName"]}


def ensure_folder(drive: Drive, path: str) -> dict[str, Any]:
    item = drive.items[drive.root_id]
    for name in [p for p in path.split("/") if p]:
        found = drive.child(item["id"], name)
        item = found if found is not None else drive.new_item(item["id"], name, folder=True)
    return item
