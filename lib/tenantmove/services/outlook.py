"""The ordinary Outlook and To Do endpoints, read-only: what a user sees of their mail (and its attachments),
calendar (with moved and cancelled occurrences), contacts (and their photos) and To Do lists (tasks with
checklist items, linked resources and attachments). The import/export API moves items as opaque streams;
this is how the move is checked from the outside. (The Outlook tasks API stopped returning data in 2022; To
Do's API is the one that reads tasks.)"""

from __future__ import annotations

import base64
from typing import Any

from .graph import GraphClient, GraphNotFound, path

# what the fidelity check compares, asked for by name: cancelledOccurrences comes only when selected
MESSAGE_FIELDS = "subject,receivedDateTime,isRead,isDraft,from,categories,hasAttachments"
EVENT_FIELDS = "subject,start,end,recurrence,attendees,type,cancelledOccurrences"


class OutlookClient:
    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph

    def _all(self, user: str, tail: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{path('users', user)}/{tail}", params)

    def messages(self, user: str) -> list[dict[str, Any]]:
        return self._all(user, "messages", {"$top": "1000", "$select": MESSAGE_FIELDS})

    def message_attachments(self, user: str, message_id: str) -> list[bytes]:
        found = self._all(user, f"messages/{path(message_id)}/attachments")
        return [base64.b64decode(a.get("contentBytes") or "") for a in found]

    def events(self, user: str) -> list[dict[str, Any]]:
        return self._all(user, "events", {"$top": "1000", "$select": EVENT_FIELDS, "$expand": "exceptionOccurrences"})

    def contacts(self, user: str) -> list[dict[str, Any]]:
        return self._all(user, "contacts", {"$top": "1000", "$select": "displayName,emailAddresses"})

    def contact_photo(self, user: str, contact_id: str) -> bytes | None:
        try:
            return self.graph.request("GET", f"{path('users', user)}/contacts/{path(contact_id)}/photo/$value",
                                      expected=(404,)).content
        except GraphNotFound:
            return None

    def todo_lists(self, user: str) -> list[dict[str, Any]]:
        return self._all(user, "todo/lists")

    def tasks(self, user: str, list_id: str) -> list[dict[str, Any]]:
        return self._all(user, f"todo/lists/{path(list_id)}/tasks", {"$expand": "checklistItems,linkedResources"})

    def task_attachments(self, user: str, list_id: str, task_id: str) -> list[dict[str, Any]]:
        return self._all(user, f"todo/lists/{path(list_id)}/tasks/{path(task_id)}/attachments")
