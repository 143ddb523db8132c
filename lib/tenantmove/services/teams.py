"""Teams through Graph: a group's team and its settings, channels and their members, a thread's messages (a
channel's, with each top-level message's replies, or a chat's) and their hosted contents, migration mode
(``startMigration``/``completeMigration``, owned by the app that started it) and import (``POST .../messages``
with the original author and time). Teams' documented limits allow an app 4 requests a second on one team,
channel or chat: each thread gets its own :class:`~tenantmove.services.pacing.Pacer` for that, and the client
still honours ``Retry-After`` on a 429 (per app and tenant: 50 a second posting channel messages, 20 posting chat
messages, 20 reading messages)."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from .graph import GraphClient, GraphError, GraphNotFound, path
from .pacing import Budget, Pacer

PER_THREAD = 4  # requests a second per app on one team, channel or chat
POST_CHANNEL_PER_S, POST_CHAT_PER_S = 50, 20  # per app and tenant
TOP = 50  # Graph's largest page of messages
EXPANDED = 1000  # replies that come with their message (more: read them on their own)
CLOCK_MARGIN = dt.timedelta(minutes=5)  # a chat's changes are read from this much before the last round began


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def round_start() -> str:
    """When a round of reading changes begins, less the margin for clocks (the service's and this machine's)."""
    return _stamp(dt.datetime.now(dt.UTC) - CLOCK_MARGIN)


@dataclass(frozen=True)
class Thread:
    """A channel (``teams/{team}/channels/{id}``) or a chat (``chats/{id}``)."""

    kind: str  # channel | chat
    id: str
    team: str = ""

    @property
    def path(self) -> str:
        return path("teams", self.team, "channels", self.id) if self.kind == "channel" else path("chats", self.id)


class TeamsClient:
    def __init__(self, graph: GraphClient, rate_scale: float = 1.0) -> None:
        """``rate_scale``: the share of Teams' documented per-thread rate to use (the sandbox's knob scales it)."""
        self.graph, self.rate_scale = graph, rate_scale
        self.pacers: dict[str, Pacer] = {}
        self.lock = threading.Lock()

    def _pacer(self, thread: Thread) -> Pacer:
        key = thread.team or thread.id  # the limit is per team (its channels count together) or per chat
        with self.lock:
            if key not in self.pacers:
                self.pacers[key] = Pacer([Budget(max(1, int(PER_THREAD * self.rate_scale)), 1.0)], PER_THREAD)
            return self.pacers[key]

    def _call(self, thread: Thread, method: str, url: str, **kwargs: Any) -> Any:
        pacer = self._pacer(thread)
        pacer.acquire()
        status: int | None = None
        try:
            resp = self.graph.request(method, url, **kwargs)
            status = resp.status_code
            return resp
        except GraphError as exc:
            status = exc.status
            raise
        finally:
            pacer.release(status)

    # --- teams and channels ------------------------------------------------------------------------------------
    def team(self, group_id: str) -> dict[str, Any] | None:
        try:
            return self.graph.get(path("teams", group_id), expected=(404,))  # no team: not a failure to log
        except GraphNotFound:
            return None

    def make_team(self, group_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        return self.graph.request("PUT", f"{path('groups', group_id)}/team", json=settings).json()

    def set_team(self, team_id: str, settings: dict[str, Any]) -> None:
        self.graph.patch(path("teams", team_id), settings)

    def channels(self, team_id: str) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{path('teams', team_id)}/channels")

    def make_channel(self, team_id: str, name: str, description: str, membership: str,
                     members: list[tuple[str, bool]]) -> dict[str, Any]:
        """``members``: (user id, owner) for a private or shared channel (an owner among them)."""
        body: dict[str, Any] = {"displayName": name, "description": description or None, "membershipType": membership}
        if membership != "standard":
            body["members"] = [self._member(uid, owner) for uid, owner in members]
        return self.graph.post(f"{path('teams', team_id)}/channels", body)

    def members(self, thread: Thread) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{thread.path}/members")

    def add_member(self, thread: Thread, user_id: str, owner: bool) -> None:
        self._call(thread, "POST", f"{thread.path}/members", json=self._member(user_id, owner))

    def _member(self, user_id: str, owner: bool) -> dict[str, Any]:
        return {"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": ["owner"] if owner else [],
                "user@odata.bind": f"{self.graph.base_url}/users('{user_id}')"}

    def tabs(self, thread: Thread) -> list[dict[str, Any]]:
        return self.graph.get_all(f"{thread.path}/tabs", {"$expand": "teamsApp"})

    def make_website_tab(self, thread: Thread, name: str, url: str) -> dict[str, Any]:
        return self._call(thread, "POST", f"{thread.path}/tabs", json={
            "displayName": name, "teamsApp@odata.bind": f"{self.graph.base_url}/appCatalogs/teamsApps/"
                                                        "com.microsoft.teamspace.tab.web",
            "configuration": {"contentUrl": url, "websiteUrl": url}}).json()

    def messages_readable(self, thread: Thread) -> str:
        """"" when this app may read the thread's messages; otherwise the service's reason (reading messages
        app-only is a protected API that Microsoft approves per app)."""
        try:
            self.graph.get(f"{thread.path}/messages", {"$top": "1"})
        except GraphError as exc:
            if exc.status == 403:
                return exc.graph_message or str(exc)
            raise
        return ""

    # --- chats -------------------------------------------------------------------------------------------------
    def chats(self, user_id: str) -> list[dict[str, Any]]:
        """A user's chats (one-on-one, group and meeting)."""
        return self.graph.get_all(f"{path('users', user_id)}/chats")

    def make_chat(self, kind: str, topic: str, members: list[str]) -> dict[str, Any]:
        """A one-on-one chat that exists already is the one Graph answers with; a group chat is always new."""
        body: dict[str, Any] = {"chatType": kind, "members": [self._member(uid, True) for uid in members]}
        if kind == "group" and topic:
            body["topic"] = topic
        return self.graph.post("chats", body)

    # --- messages ----------------------------------------------------------------------------------------------
    def thread(self, thread: Thread) -> dict[str, Any]:
        return self._call(thread, "GET", thread.path).json()

    def messages(self, thread: Thread) -> list[dict[str, Any]]:
        """Every message of the thread, each top-level one followed by its replies (a channel's)."""
        params: dict[str, Any] = {"$top": str(TOP)}
        if thread.kind == "channel":
            params["$expand"] = "replies"  # up to 1,000 replies come with their message
        return self._read(thread, f"{thread.path}/messages", params)[0]

    def changes(self, thread: Thread, since: str) -> tuple[list[dict[str, Any]], str]:
        """The messages changed or posted after ``since`` (a time, or where the last round ended), and where this
        round ends. A channel's: its ``messages/delta`` (whole reply chains; ``since`` may be the delta link the
        last round returned). A chat's (Graph has no per-chat delta): its messages ordered by their last change,
        filtered to those after the time; the round ends at the time it began, less a margin for clocks."""
        if thread.kind == "channel":
            if since.startswith("http"):
                return self._read(thread, since, None)
            return self._read(thread, f"{thread.path}/messages/delta",
                              {"$filter": f"lastModifiedDateTime gt {since}", "$expand": "replies", "$top": str(TOP)})
        began = round_start()
        found = self._read(thread, f"{thread.path}/messages", {"$orderby": "lastModifiedDateTime desc",
                                                               "$filter": f"lastModifiedDateTime gt {since}",
                                                               "$top": str(TOP)})[0]
        return found, began

    def _read(self, thread: Thread, url: str | None, params: dict[str, Any] | None) -> tuple[list[dict[str, Any]], str]:
        """Pages of messages (replies after their message) and the round's delta link, if the service gave one."""
        out: list[dict[str, Any]] = []
        end = ""
        while url:
            body = self._call(thread, "GET", url, params=params).json()
            params = None  # the next link carries them
            for msg in body.get("value", []):
                replies = msg.pop("replies", None)
                out.append(msg)
                if thread.kind == "channel":
                    out += replies if replies is not None and len(replies) < EXPANDED else \
                        self._replies(thread, str(msg["id"]))
            url = body.get("@odata.nextLink")
            end = str(body.get("@odata.deltaLink") or end)
        return out, end

    def _replies(self, thread: Thread, parent: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = f"{thread.path}/messages/{parent}/replies"
        params: dict[str, Any] | None = {"$top": str(TOP)}
        while url:
            body = self._call(thread, "GET", url, params=params).json()
            params = None
            out += body.get("value", [])
            url = body.get("@odata.nextLink")
        return out

    def hosted_content(self, thread: Thread, message: dict[str, Any], hosted_id: str) -> bytes:
        where = f"{thread.path}/messages/"
        where += f"{message['replyToId']}/replies/{message['id']}" if message.get("replyToId") else str(message["id"])
        return self._call(thread, "GET", f"{where}/hostedContents/{hosted_id}/$value").content

    def start_migration(self, thread: Thread, since: str | None) -> None:
        self._call(thread, "POST", f"{thread.path}/startMigration",
                   json={"conversationCreationDateTime": since} if since else {})

    def complete_migration(self, thread: Thread) -> None:
        self._call(thread, "POST", f"{thread.path}/completeMigration", json={})

    def import_message(self, thread: Thread, body: dict[str, Any], parent: str = "") -> dict[str, Any]:
        url = f"{thread.path}/messages" + (f"/{parent}/replies" if parent else "")
        return self._call(thread, "POST", url, json=body).json()
