"""OneNote in the sandbox: notebooks (each a package in its owner's OneDrive), section groups, sections and
pages with their resources (images, attached files), and the seed. A page's body is kept as the HTML the API
renders, with ``res:<id>`` where a resource's URL goes."""

from __future__ import annotations

import hashlib
import html
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from .state import Tenant, now_iso


def _id(*parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"1-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


@dataclass
class Resource:
    id: str
    data: bytes
    content_type: str


@dataclass
class Page:
    id: str
    section_id: str
    title: str
    created: str
    modified: str
    body: str  # the page's HTML body, resources as res:<id>
    level: int = 0
    resources: dict[str, Resource] = field(default_factory=dict)
    by_app: str = ""


@dataclass
class Container:
    """A notebook, section group or section."""

    id: str
    kind: str  # notebook | sectionGroup | section
    name: str
    notebook_id: str
    parent_id: str  # the notebook or section group it is in ("" for a notebook)
    created: str
    modified: str


@dataclass
class Notebook(Container):
    tenant_id: str = ""
    owner_id: str = ""
    package_id: str = ""  # the package item in the owner's OneDrive
    shared_with: set[str] = field(default_factory=set)  # user ids the owner shared it with


class Notes:
    """Every notebook of every tenant, with what is inside."""

    def __init__(self) -> None:
        self.notebooks: dict[str, Notebook] = {}
        self.containers: dict[str, Container] = {}  # section groups and sections
        self.pages: dict[str, Page] = {}
        self.resources: dict[str, tuple[str, Resource]] = {}  # resource id -> (page id, resource)
        self.seq = 0

    def new_id(self, *parts: str) -> str:
        self.seq += 1
        return _id(*parts, str(self.seq))

    def add_notebook(self, tenant: Tenant, owner_id: str, name: str, package_id: str,
                     created: str | None = None) -> Notebook:
        stamp = created or now_iso()
        nb = Notebook(self.new_id(tenant.id, owner_id, name), "notebook", name, "", "", stamp, stamp,
                      tenant_id=tenant.id, owner_id=owner_id, package_id=package_id)
        nb.notebook_id = nb.id
        self.notebooks[nb.id] = nb
        return nb

    def add_container(self, kind: str, parent: Container, name: str, created: str | None = None) -> Container:
        stamp = created or now_iso()
        made = Container(self.new_id(parent.id, kind, name), kind, name, parent.notebook_id, parent.id, stamp, stamp)
        self.containers[made.id] = made
        return made

    def children(self, parent_id: str, kind: str) -> list[Container]:
        return [c for c in self.containers.values() if c.parent_id == parent_id and c.kind == kind]

    def section_pages(self, section_id: str) -> list[Page]:
        return [p for p in self.pages.values() if p.section_id == section_id]  # insertion order: page order

    def add_page(self, section: Container, title: str, created: str, body: str, resources: list[Resource],
                 level: int = 0, by_app: str = "") -> Page:
        page = Page(self.new_id(section.id, "page", title), section.id, title, created, now_iso(), body, level,
                    {r.id: r for r in resources}, by_app)
        self.pages[page.id] = page
        for res in resources:
            self.resources[res.id] = (page.id, res)
        return page

    def of_owner(self, tenant_id: str, owner_id: str) -> list[Notebook]:
        return [n for n in self.notebooks.values() if n.tenant_id == tenant_id and n.owner_id == owner_id]

    def notebook_of(self, item: Container | Page) -> Notebook:
        if isinstance(item, Page):
            item = self.containers[item.section_id]
        return self.notebooks[item.notebook_id]

    def path(self, container: Container) -> str:
        names = []
        cur: Container | None = container
        while cur is not None and cur.kind != "notebook":
            names.append(cur.name)
            cur = self.containers.get(cur.parent_id) or self.notebooks.get(cur.parent_id)
        return "/".join(reversed(names))


def png(width: int, height: int, seed: str) -> bytes:
    """A real PNG image (RGB, a pattern from ``seed``): what a page's picture is."""
    colour = hashlib.sha256(seed.encode()).digest()
    rows = b"".join(b"\x00" + bytes((colour[(x + y) % 32] ^ (x * 7 + y * 3)) & 0xFF for x in range(width * 3))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def seed_notebook(notes: Notes, tenant: Tenant, owner: dict[str, Any], spec: dict[str, Any], package_id: str) -> None:
    """``spec``: ``{name, sections: ["Quick Notes", "Projects/Website"], pages_per_section, images, attachments,
    shared_with: [upn], created}``. A section path's leading parts are section groups."""
    nb = notes.add_notebook(tenant, owner["id"], str(spec["name"]), package_id, spec.get("created"))
    for upn in spec.get("shared_with", []):
        user = tenant.find_user(str(upn))
        if user is not None:
            nb.shared_with.add(user["id"])
    groups: dict[str, Container] = {}
    for path in spec.get("sections", ["Quick Notes"]):
        parent: Container = nb
        parts = str(path).split("/")
        for depth in range(len(parts) - 1):
            key = "/".join(parts[:depth + 1])
            if key not in groups:
                groups[key] = notes.add_container("sectionGroup", parent, parts[depth], nb.created)
            parent = groups[key]
        section = notes.add_container("section", parent, parts[-1], nb.created)
        for n in range(int(spec.get("pages_per_section", 3))):
            seed = f"{tenant.id}/{nb.name}/{path}/{n}"
            resources, body = [], [f"<p>Notes of {html.escape(str(path))}, page {n + 1}: {hashlib.md5(seed.encode()).hexdigest()}"
                                   "</p><ul><li>first point</li><li>second point</li></ul>"]
            for i in range(int(spec.get("images", 1)) if n == 0 else 0):
                res = Resource(notes.new_id(seed, "img", str(i)), png(48 + 16 * i, 32, f"{seed}/{i}"), "image/png")
                resources.append(res)
                body.append(f'<img src="res:{res.id}" alt="picture {i + 1}" width="{48 + 16 * i}" />')
            for i in range(int(spec.get("attachments", 0)) if n == 0 else 0):
                data = f"attached file {i} of {seed}\n".encode() * 400
                res = Resource(notes.new_id(seed, "file", str(i)), data, "application/pdf")
                resources.append(res)
                body.append(f'<object data-attachment="minutes-{i + 1}.pdf" type="application/pdf" '
                            f'data="res:{res.id}" />')
            created = f"20{18 + n % 7:02d}-0{1 + n % 9}-1{n % 10}T09:30:00Z"
            notes.add_page(section, f"{parts[-1]} {n + 1}", created, "".join(body), resources,
                           level=1 if n == 2 else 0)

