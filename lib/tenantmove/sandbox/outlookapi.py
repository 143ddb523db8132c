"""The ordinary Outlook endpoints an imported item reads back through: messages (and their attachments),
events (with their cancelled and exceptional occurrences), contacts (and their photo), and To Do (every task
folder is a list; tasks with checklist items, linked resources and attachments). ``POST /events`` with
attendees sends invitations: counted, so tests can prove the runbook never causes one."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote, urlencode

from .http import Response
from .mailboxes import Mailbox, item_json
from .shapes import GraphFailure
from .state import Tenant, now_iso

OUTLOOK_RE = re.compile(r"^users/([^/]+)/(messages|events|contacts|todo/lists)(?:/(.*))?$")
OUTLOOK_KIND = {"messages": "IPM.Note", "events": "IPM.Appointment", "contacts": "IPM.Contact"}
OUTLOOK_READ = {"messages": {"Mail.Read", "Mail.ReadWrite"}, "events": {"Calendars.Read", "Calendars.ReadWrite"},
                "contacts": {"Contacts.Read", "Contacts.ReadWrite"}, "todo": {"Tasks.Read.All", "Tasks.ReadWrite.All"}}
HIDDEN = ("createdDateTime", "lastModifiedDateTime", "attachments", "photo", "linkedResources", "checklistItems",
          "exceptionOccurrences", "cancelledOccurrences")
# what $select may name, per kind (Graph v1.0's message, event and contact, with outlookItem's and entity's)
_COMMON = ("id", "changeKey", "categories", "createdDateTime", "lastModifiedDateTime")
SELECTABLE = {
    "messages": frozenset(_COMMON + (
        "bccRecipients", "body", "bodyPreview", "ccRecipients", "conversationId", "conversationIndex", "flag", "from",
        "hasAttachments", "importance", "inferenceClassification", "internetMessageHeaders", "internetMessageId",
        "isDeliveryReceiptRequested", "isDraft", "isRead", "isReadReceiptRequested", "parentFolderId",
        "receivedDateTime", "replyTo", "sender", "sentDateTime", "subject", "toRecipients", "uniqueBody", "webLink")),
    "events": frozenset(_COMMON + (
        "allowNewTimeProposals", "attendees", "body", "bodyPreview", "cancelledOccurrences", "end", "hasAttachments",
        "hideAttendees", "iCalUId", "importance", "isAllDay", "isCancelled", "isDraft", "isOnlineMeeting",
        "isOrganizer", "isReminderOn", "location", "locations", "onlineMeeting", "onlineMeetingProvider",
        "onlineMeetingUrl", "organizer", "originalEndTimeZone", "originalStart", "originalStartTimeZone",
        "recurrence", "reminderMinutesBeforeStart", "responseRequested", "responseStatus", "sensitivity",
        "seriesMasterId", "showAs", "start", "subject", "transactionId", "type", "webLink")),
    "contacts": frozenset(_COMMON + (
        "assistantName", "birthday", "businessAddress", "businessHomePage", "businessPhones", "children",
        "companyName", "department", "displayName", "emailAddresses", "fileAs", "generation", "givenName",
        "homeAddress", "homePhones", "imAddresses", "initials", "jobTitle", "manager", "middleName", "mobilePhone",
        "nickName", "officeLocation", "otherAddress", "parentFolderId", "personalNotes", "primaryEmailAddress",
        "profession", "secondaryEmailAddress", "spouseName", "tertiaryEmailAddress", "surname", "title", "yomiCompanyName", "yomiGivenName", "yomiSurname")),
}
ODATA_TYPE = {"messages": "message", "events": "event", "contacts": "contact"}
PAGE_SIZE, MAX_TOP = 10, 1000  # Outlook's default page and the most $top gives
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def outlook_json(item: dict[str, Any]) -> dict[str, Any]:
    """An item as /messages, /events or /contacts show it (the properties the import carried)."""
    out = {"id": item["id"], "createdDateTime": item["created"], "lastModifiedDateTime": item["modified"],
           "changeKey": item_json(item)["changeKey"]}
    out.update({k: v for k, v in item["props"].items() if k not in HIDDEN})
    if item["type"] == "IPM.Note":
        out["hasAttachments"] = bool(item["props"].get("attachments"))
    if item["type"] == "IPM.Appointment":
        out["type"] = "seriesMaster" if item["props"].get("recurrence") else "singleInstance"
    return out


def selected(query: dict[str, str], what: str) -> list[str] | None:
    """The properties ``$select`` names (None: no $select); one Graph does not know is a 400, as Graph's is."""
    raw = query.get("$select")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in SELECTABLE[what]]
    if unknown:
        raise GraphFailure(400, "RequestBroker--ParseUri", f"Could not find a property named '{unknown[0]}' on type "
                                                          f"'microsoft.graph.{ODATA_TYPE[what]}'.")
    return names


def shown(item: dict[str, Any], what: str, names: list[str] | None, expand: str) -> dict[str, Any]:
    """One item as a listing or a GET shows it: ``$select``'s properties (with ``id``), the properties Graph gives
    only when selected (``cancelledOccurrences``) then too, and ``exceptionOccurrences`` when expanded."""
    full = outlook_json(item)
    if what == "events":
        full["cancelledOccurrences"] = list(item["props"].get("cancelledOccurrences", []))
    out = {k: v for k, v in full.items() if (k in names or k == "id")} if names is not None else \
        {k: v for k, v in full.items() if k != "cancelledOccurrences"}
    if what == "events" and "exceptionOccurrences" in expand:
        out["exceptionOccurrences"] = list(item["props"].get("exceptionOccurrences", []))
    return out


def page(values: list[dict[str, Any]], query: dict[str, str], next_base: str) -> dict[str, Any]:
    """Outlook's paging: 10 a page unless ``$top`` (at most 1,000) says otherwise, then ``@odata.nextLink``."""
    try:
        top = min(MAX_TOP, max(1, int(query.get("$top", PAGE_SIZE))))
        skip = max(0, int(query.get("$skip", 0)))
    except ValueError as exc:
        raise GraphFailure(400, "BadRequest", "$top and $skip take whole numbers.") from exc
    body: dict[str, Any] = {"value": values[skip:skip + top]}
    if skip + top < len(values):
        rest = {k: v for k, v in query.items() if k != "$skip"}
        rest.update({"$top": str(top), "$skip": str(skip + top)})
        body["@odata.nextLink"] = f"{next_base}?{urlencode(rest)}"
    return body


def mime(item: dict[str, Any]) -> bytes:
    """A message as RFC 5322 text (``/messages/{id}/$value``), its attachments as MIME parts."""
    props = item["props"]
    msg = EmailMessage()
    msg["Subject"] = str(props.get("subject") or "")
    msg["From"] = str(((props.get("from") or {}).get("emailAddress") or {}).get("address") or "")
    sent = props.get("sentDateTime") or props.get("receivedDateTime")
    if sent:
        msg["Date"] = format_datetime(datetime.fromisoformat(str(sent).replace("Z", "+00:00")))
    body = props.get("body") or {}
    msg.set_content(str(body.get("content") or ""), subtype="html" if body.get("contentType") == "html" else "plain")
    for att in props.get("attachments", []):
        maintype, _, subtype = str(att["contentType"]).partition("/")
        msg.add_attachment(base64.b64decode(att["contentBytes"]), maintype=maintype, subtype=subtype or "octet-stream",
                           filename=att["name"])
    return bytes(msg)


def instances(item: dict[str, Any], start: str, end: str) -> list[dict[str, Any]]:
    """The occurrences of a weekly series between ``start`` and ``end`` (ISO times): each as an ``occurrence``, a
    moved one as an ``exception`` at its new time, a cancelled one left out; a single event is its own instance."""
    props = item["props"]
    pattern = (props.get("recurrence") or {}).get("pattern") or {}
    first = datetime.fromisoformat(str(props["start"]["dateTime"]))
    length = datetime.fromisoformat(str(props["end"]["dateTime"])) - first
    lo = datetime.fromisoformat(start.replace("Z", "")[:19])
    hi = datetime.fromisoformat(end.replace("Z", "")[:19])
    if pattern.get("type") != "weekly":
        return [dict(outlook_json(item), type="singleInstance")] if lo <= first < hi else []
    moved = {str(x.get("originalStart", ""))[:10]: x for x in props.get("exceptionOccurrences", [])}
    cancelled = {str(c).split(".")[-1] for c in props.get("cancelledOccurrences", [])}
    out, when, step = [], first, timedelta(weeks=int(pattern.get("interval", 1)))
    last = ((props.get("recurrence") or {}).get("range") or {}).get("endDate")
    if last and not str(last).startswith("0001"):  # the series' own end
        hi = min(hi, datetime.fromisoformat(str(last)) + timedelta(days=1))
    while when < hi:
        day = when.date().isoformat()
        if when >= lo and day not in cancelled:
            occurrence = dict(outlook_json(item), id=f"{item['id']}.{day}", seriesMasterId=item["id"],
                              type="occurrence", recurrence=None,
                              start={"dateTime": when.isoformat(), "timeZone": props["start"]["timeZone"]},
                              end={"dateTime": (when + length).isoformat(), "timeZone": props["end"]["timeZone"]})
            if day in moved:
                occurrence.update({k: v for k, v in moved[day].items() if k != "type"}, type="exception")
            out.append(occurrence)
        when += step
    return out


def attachments(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(a, id=f"{item['id']}-a{n}") for n, a in enumerate(item["props"].get("attachments", []))]


def attachment_json(att: dict[str, Any], with_bytes: bool) -> dict[str, Any]:
    out = {"@odata.type": "#microsoft.graph.fileAttachment", "id": att["id"], "name": att["name"],
           "contentType": att["contentType"], "size": att["size"], "isInline": False}
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

    def mailbox(self, rest: str, tenant: Tenant) -> Mailbox:
        """The mailbox a request addresses (for the per-mailbox limits, before it is served)."""
        match = OUTLOOK_RE.match(rest)
        assert match
        user = tenant.find_user(unquote(match.group(1)))
        box = self.mailbox_of(tenant, user) if user else None
        if box is None:
            raise GraphFailure(404, "ErrorMailboxNotFound", "The mailbox could not be found.")
        return box

    def call(self, method: str, rest: str, query: dict[str, str], body: Any, tenant: Tenant,
             granted: set[str], base: str = "") -> Response:
        match = OUTLOOK_RE.match(rest)
        assert match
        what = match.group(2).split("/")[0]
        if not granted & OUTLOOK_READ[what]:
            raise GraphFailure(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        box = self.mailbox(rest, tenant)
        tail = [unquote(p) for p in (match.group(3) or "").split("/") if p]
        if what == "todo":
            return self._todo(box, tail, query)
        if what == "events" and method == "POST" and not tail:
            if not granted & {"Calendars.ReadWrite"}:
                raise GraphFailure(403, "ErrorAccessDenied", "Access is denied.")
            calendar = next(f for f in box.folders.values() if f.well_known and f.name == "Calendar")
            item = box.add_item(calendar, dict(body or {}, createdDateTime=now_iso(), lastModifiedDateTime=now_iso()))
            self.count("invitations_sent", len((body or {}).get("attendees") or []))
            return Response(201, outlook_json(item))
        kind = OUTLOOK_KIND[what]
        names, expand = selected(query, what), query.get("$expand", "")
        if not tail:
            values = [shown(i, what, names, expand) for i in box.items.values() if i["type"] == kind]
            return Response(200, page(values, query, f"{base}/v1.0/{rest}"))
        item = box.items.get(tail[0])
        if item is None or item["type"] != kind:
            raise GraphFailure(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if tail[1:] == ["attachments"]:
            return Response(200, {"value": [attachment_json(a, True) for a in attachments(item)]})
        if tail[1:] == ["$value"] and what == "messages":
            return Response(200, mime(item), {"Content-Type": "message/rfc822"})
        if tail[1:] == ["instances"] and what == "events":
            if not query.get("startDateTime") or not query.get("endDateTime"):
                raise GraphFailure(400, "ErrorInvalidParameter", "This request requires a time window specified by "
                                                                 "the query string parameters StartDateTime and "
                                                                 "EndDateTime.")
            found = instances(item, query["startDateTime"], query["endDateTime"])
            return Response(200, page(found, query, f"{base}/v1.0/{rest}"))
        if tail[1:] == ["photo"] and what == "contacts":
            if not item["props"].get("photo"):
                raise GraphFailure(404, "ErrorItemNotFound", "The photo wasn't found.")
            return Response(200, {"@odata.mediaContentType": "image/png", "id": "default", "height": 24, "width": 24})
        if tail[1:] == ["photo", "$value"] and what == "contacts":
            photo = item["props"].get("photo")
            if not photo:
                raise GraphFailure(404, "ErrorItemNotFound", "The photo wasn't found.")
            return Response(200, base64.b64decode(photo), {"Content-Type": "image/png"})
        if not tail[1:]:
            return Response(200, shown(item, what, names, expand))
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
