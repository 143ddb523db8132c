"""OneNote through Graph, signed in as a person (app-only tokens have been refused since 31 March 2025).
Notebooks, section groups and sections are listed per owner in three calls; a page is read as the HTML the
service renders plus its resources (images, attached files), and made again by one multipart POST whose
Presentation part names each resource as a part and keeps the original creation time in
``<meta name="created">``. The service's 429s carry no ``Retry-After``: the client paces itself
(:func:`onenote_pacer`) under the documented 120 requests a minute, 400 an hour and 5 at once."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from typing import Any

from urllib3 import encode_multipart_formdata

from ..errors import TenantmoveError
from .graph import GraphAuthError, GraphClient, GraphNotFound, path
from .pacing import Budget, Pacer

PER_MINUTE, PER_HOUR, AT_ONCE = 120, 400, 5
MAX_PARTS, MAX_PART, MAX_POST = 30, 25 * 1024 * 1024, 70 * 1024 * 1024  # the Presentation part counts as one
RESOURCE_RE = re.compile(r'(<(?:img|object)\b[^>]*?\b(?:src|data))="([^"]+/resources/([^/"]+)/(?:\$value|content))"',
                         re.I)
DROP_ATTRS_RE = re.compile(r'\s(?:data-fullres-src|data-fullres-src-type|data-src-type)="[^"]*"', re.I)


MARGIN = 0.9  # requests arrive later than they leave, and not in order: keep a tenth of each budget in hand


def onenote_pacer(scale: float = 1.0) -> Pacer:
    """OneNote's documented limits per app and user, less a margin; ``scale`` shortens the windows."""
    return Pacer([Budget(int(PER_MINUTE * MARGIN), 60 * scale), Budget(int(PER_HOUR * MARGIN), 3600 * scale)], AT_ONCE)


class PageTooLarge(TenantmoveError):
    """A page whose resources do not fit one page-creation request."""


@dataclass
class PagePart:
    name: str
    data: bytes
    content_type: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class PageCopy:
    """A page as read from the old notebook, ready to be made in the new one."""

    title: str
    created: str
    body: str  # the body's HTML, resources referred to as name:<part>
    parts: list[PagePart] = field(default_factory=list)

    def presentation(self) -> str:
        return (f"<!DOCTYPE html><html><head><title>{html.escape(self.title)}</title>"
                f'<meta name="created" content="{html.escape(self.created)}" /></head>'
                f"<body>{self.body}</body></html>")

    def check_size(self) -> None:
        """The service's limits on one POST, checked before anything is sent."""
        if len(self.parts) + 1 > MAX_PARTS:
            raise PageTooLarge(f"page {self.title!r} has {len(self.parts)} images and files; one page creation takes "
                               f"at most {MAX_PARTS - 1}", hint="split the page in OneNote into smaller pages, then "
                                                                "rerun")
        big = [p for p in self.parts if len(p.data) > MAX_PART]
        if big:
            raise PageTooLarge(f"page {self.title!r}: a file of {len(big[0].data) // 2**20} MiB; a part may hold 25 MB",
                               hint="move that file out of the page (to OneDrive) and link it, then rerun")
        total = sum(len(p.data) for p in self.parts) + len(self.presentation().encode())
        if total > MAX_POST:
            raise PageTooLarge(f"page {self.title!r} holds {total // 2**20} MiB; one page creation takes 70 MB",
                               hint="split the page in OneNote into smaller pages, then rerun")


class OneNoteClient:
    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph

    def base(self, owner: str) -> str:
        return f"{path('users', owner)}/onenote"

    # --- reading ------------------------------------------------------------------------------------------------
    def notebooks(self, owner: str) -> list[dict[str, Any]] | None:
        """The owner's notebooks this sign-in reaches; None when it reaches none of that OneDrive."""
        try:
            return self.graph.get(f"{self.base(owner)}/notebooks", expected=(403, 404))["value"]
        except (GraphAuthError, GraphNotFound) as exc:
            if exc.status in (403, 404):
                return None
            raise

    def containers(self, owner: str, kind: str) -> list[dict[str, Any]]:
        """Every section group (``kind`` sectionGroups) or section (sections) of the owner, with its parents."""
        return self.graph.get_all(f"{self.base(owner)}/{kind}",
                                  {"$expand": "parentNotebook,parentSectionGroup"})

    def pages(self, owner: str, section: str) -> list[dict[str, Any]]:
        """A section's pages in their order, with their level (sub-pages)."""
        found = self.graph.get_all(f"{self.base(owner)}/sections/{path(section)}/pages",
                                   {"pagelevel": "true", "$top": "100"})
        return sorted(found, key=lambda p: int(p.get("order") or 0))

    def read_page(self, owner: str, page: dict[str, Any]) -> PageCopy:
        """The page's HTML and every resource it shows, with the resources renamed to parts."""
        markup = self.page_content(owner, str(page["id"]))
        body_match = re.search(r"<body[^>]*>(.*)</body>", markup, re.S | re.I)
        body = body_match.group(1) if body_match else markup
        parts: dict[str, PagePart] = {}

        def fetch(m: re.Match[str]) -> str:
            rid = m.group(3)
            if rid not in parts:
                resp = self.graph.request("GET", html.unescape(m.group(2)))
                parts[rid] = PagePart(f"part{len(parts) + 1}", resp.content,
                                      resp.headers.get("Content-Type", "application/octet-stream").split(";")[0])
            return f'{m.group(1)}="name:{parts[rid].name}"'

        body = RESOURCE_RE.sub(fetch, DROP_ATTRS_RE.sub("", body))
        return PageCopy(str(page.get("title") or ""), str(page.get("createdDateTime") or ""), body,
                        list(parts.values()))

    def page_content(self, owner: str, page_id: str) -> str:
        """The page as the service renders it (resources as URLs, not fetched)."""
        return self.graph.request("GET", f"{self.base(owner)}/pages/{path(page_id)}/content").text

    def delete_page(self, owner: str, page_id: str) -> None:
        self.graph.request("DELETE", f"{self.base(owner)}/pages/{path(page_id)}")

    # --- writing ------------------------------------------------------------------------------------------------
    def create_notebook(self, owner: str, name: str) -> dict[str, Any]:
        return self.graph.post(f"{self.base(owner)}/notebooks", {"displayName": name})

    def create_container(self, owner: str, parent_kind: str, parent_id: str, kind: str, name: str) -> dict[str, Any]:
        """A section group or section (``kind``) in a notebook or section group (``parent_kind``)."""
        return self.graph.post(f"{self.base(owner)}/{parent_kind}/{path(parent_id)}/{kind}", {"displayName": name})

    def children(self, owner: str, parent_kind: str, parent_id: str, kind: str) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{self.base(owner)}/{parent_kind}/{path(parent_id)}/{kind}")

    def create_page(self, owner: str, section: str, page: PageCopy) -> dict[str, Any]:
        page.check_size()
        fields: list[tuple[str, Any]] = [("Presentation", (None, page.presentation().encode("utf-8"), "text/html"))]
        fields += [(p.name, (p.name, p.data, p.content_type)) for p in page.parts]
        body, content_type = encode_multipart_formdata(fields)
        resp = self.graph.request("POST", f"{self.base(owner)}/sections/{path(section)}/pages", data=body,
                                  headers={"Content-Type": content_type})
        return resp.json()
