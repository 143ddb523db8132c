"""The ordinary Outlook endpoints an imported item reads back through: messages (and their attachments),
events (with their cancelled and exceptional occurrences), contacts (and their photo), and To Do (every task
folder is a list; tasks with checklist items, linked resources and attachments). ``POST /events`` with
attendees sends invitations: counted, so tests can prove the runbook never causes one."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from .http import Response
from .mailboxes import Mailbox, item_json
from .shapes import GraphFailure
from .state import Tenant, now_iso

OUTLOOK_RE = re.compile(r"^users/([^/]+)/(messages|events|contacts|todo/lists)(?:/(.*))?$")
OUTLOOK_KIND = {"messages": "IPM.Note", "events": "IPM.Appointment", "contacts": "IPM.Contact"}
OUTLOOK_READ = {"messages": {"Mail.Read", "Mail.ReadWrite"}, "events": {"Calendars.Read", "Calendars.ReadWrite"},
                "contacts": {"Contacts.Read", "Contacts.ReadWrite"}, "todo": {"Tasks.Read.All", "Tasks.ReadWrite.All"}}
HIDDEN = ("createdDateTime", "lastModifiedDateTime", "attachments", "photo", "linkedResources", "checklistItems",
          "exceptionOccurrences")


def outlook_json(item: dict[str, Any]) -> dict[str, Any]:
    """An item as /messages, /events or /contacts show it (the properties the import carried)."""
    out = {"id": item["id"], "createdDateTime": item["created"], "lastModifiedDateTime": item["modified"],
           "changeKey": item_json(item)["changeKey"]}
    out.update({k: v for k, v in item["props"].items() if k not in HIDDEN})
    if item["type"] == "IPM.Note":
        out["hasAttachments"] = bool(item["props"].get("attachments"))
    return out


def attachments(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(a, id=f"{item['id']}-a{n}") for n, a in enumerate(item["props"].get("attachments", []))]


def attachment_json(att: dict[str, Any], with_bytes: bool) -> dict[str, Any]:
    out = {"id": att["id"], "name": att["name"], "contentType": att["contentType"], "size": att["size"]}
    if with_bytes:
        out["contentBytes"] = att["contentBytes"]
    return out


def task_json(item: dict[str, Any], list_id: str, expand: str) -> dict[str, Any]:
    props = item["props"]
    out = {"id": item["id"], "title": props.get("title"), "status": props.get("status"),
           "createdDateTime": item["created"], "lastModifiedDateTime": item["modified"],
           "hasAttachments": bool(props.get("attachments")), "importance": props.get("importance", "normal")}
    if "checklistItems" in expand:
        out["checklistItems"] = [dict(c, id=f"{item['id']}-c{n}") for n, c in enumerate(props.get("checklistItems", []))]
    if "linkedResources" in expand:
        out["linkedResources"] = [dict(r, id=f"{item['id']}-r{n}") for n, r in enumerate(props.get("linkedResources",
                                                                                                     []))]
    return out


class OutlookApi:
    def __init__(self, mailbox_of: Callable[[Tenant, dict[str, Any]], Mailbox | None], count: Any) -> None:
        self.mailbox_of, self.count = mailbox_of, count

    @staticmethod
    def owns(rest: str) -> bool:
        return OUTLOOK_RE.match(rest) is not None

    def call(self, method: str, rest: str, query: dict[str, str], body: Any, tenant: Tenant,
             granted: set[str]) -> Response:
        match = OUTLOOK_RE.match(rest)
        assert match
        what = match.group(2).split("/")[0]
        if not granted & OUTLOOK_READ[what]:
            raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        user = tenant.find_user(unquote(match.group(1)))
        box = self.mailbox_of(tenant, user) if user else None
        if box is None:
            raise GraphFailure(404, "ErrorMailboxNotFound", "The mailbox could not be found.")
        tail = [unquote(p) for p in (match.group(3) or "").split("/") if p]
        if what == "todo":
            return self._todo(box, tail, query)
        if what == "events" and method == "POST" and not tail:
            if not granted & {"Calendars.ReadWrite"}:
                raise GraphFailure(403, "ErrorAccessDenied", "Access is denied.")
            calendar = next(f for f in box.folders.values() if f.name == "Calendar")
            item = box.add_item(calendar, dict(body or {}, createdDateTime=now_iso(), lastModifiedDateTime=now_iso()))
            self.count("invitations_sent", len((body or {}).get("attendees") or []))
            return Response(201, outlook_json(item))
        kind = OUTLOOK_KIND[what]
        if not tail:
            expand = query.get("$expand", "")
            out = []
            for item in (i for i in box.items.values() if i["type"] == kind):
                shown = outlook_json(item)
                if what == "events" and "exceptionOccurrences" in expand:
                    shown["exceptionOccurrences"] = list(item["props"].get("exceptionOccurrences", []))
                out.append(shown)
            return Response(200, {"value": out})
        item = box.items.get(tail[0])
        if item is None or item["type"] != kind:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if tail[1:] == ["attachments"]:
            return Response(200, {"value": [attachment_json(a, True) for a in attachments(item)]})
        if tail[1:] == ["photo", "$value"] and what == "contacts":
            photo = item["props"].get("photo")
            if not photo:
                raise GraphFailure(404, "ErrorItemNotFound", "The photo wasn't found.")
            return Response(200, base64.b64decode(photo), {"Content-Type": "image/png"})
        if not tail[1:]:
            return Response(200, outlook_json(item))
        raise GraphFailure(400, "BadRequest", f"The sandbox does not support {what}/{'/'.join(tail)}.")

    def _todo(self, box: Mailbox, tail: list[str], query: dict[str, str]) -> Response:
        """Every IPF.Task folder is a list (Tasks is the default one)."""
        lists = [f for f in box.folders.values() if f.kind == "IPF.Task"]
        if not tail:
            return Response(200, {"value": [{"id": f.id, "displayName": f.name, "isOwner": True, "isShared": False,
                                             "wellknownListName": "defaultList" if f.well_known else "none"}
                                            for f in lists]})
        folder = next((f for f in lists if f.id == tail[0]), None)
        if folder is None:
            raise GraphFailure(404, "ErrorItemNotFound", "The task list was not found.")
        tasks = [i for i in box.items.values() if i["folder"] == folder.id and i["type"] == "IPM.Task"]
        if tail[1:] == ["tasks"]:
            return Response(200, {"value": [task_json(t, folder.id, query.get("$expand", "")) for t in tasks]})
        task = next((t for t in tasks if len(tail) > 2 and t["id"] == tail[2]), None)
        if task is None:
            raise GraphFailure(404, "ErrorItemNotFound", "The task was not found.")
        rest = tail[3:]
        if rest == ["attachments"]:
            return Response(200, {"value": [attachment_json(a, False) for a in attachments(task)]})
        if rest == ["checklistItems"]:
            return Response(200, {"value": task_json(task, folder.id, "checklistItems")["checklistItems"]})
        if rest == ["linkedResources"]:
            return Response(200, {"value": task_json(task, folder.id, "linkedResources")["linkedResources"]})
        if len(rest) == 3 and rest[0] == "attachments" and rest[2] == "$value":
            att = next((a for a in attachments(task) if a["id"] == rest[1]), None)
            if att is None:
                raise GraphFailure(404, "ErrorItemNotFound", "The attachment was not found.")
            return Response(200, base64.b64decode(att["contentBytes"]), {"Content-Type": att["contentType"]})
        if not rest:
            return Response(200, task_json(task, folder.id, query.get("$expand", "")))
        raise GraphFailure(400, "BadRequest", "The sandbox does not support this To Do path.")
