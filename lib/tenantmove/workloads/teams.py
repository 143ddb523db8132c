"""Teams moved into the new tenant, on the engine: a team for each moved Microsoft 365 group that had one (with
its member, guest, messaging and fun settings), its channels (a private or shared one with its members), and each
channel's conversation: the thread is put into migration mode, every message is imported with its original author
and time (replies under their message, inline images with it, file links pointing at the new site's copy,
mentions of people who move), and the migration is completed once every message of the thread is in.

Rules that make a rerun safe: a message is found in the new thread by its time and author before it is imported (a
run killed after the import and before the ledger adopts it); the app that started a thread's migration is the one
that finishes it (the same app registration on every run); a 409 on a time already taken by another message moves
the import one millisecond later and says so. An author who does not move is imported under the named stand-in,
with a line saying who wrote it, never under somebody else silently."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..engine import Applied, DeltaLinks, ManualStep, Work, Workload, ps_quote
from ..engine.ledger import REOPENED
from ..errors import TenantmoveError
from ..services.graph import GraphError
from ..services.teams import TeamsClient, Thread, round_start

SETTINGS = ("memberSettings", "guestSettings", "messagingSettings", "funSettings")
HOSTED_RE = re.compile(r"\.\./hostedContents/([^/\"']+)/\$value")
MENTION_RE = re.compile(r'<at id="(\d+)">(.*?)</at>')
MAX_SHIFTS = 5  # a time taken by another message: moved a millisecond later at most this often
MAX_REACTIONS = 250  # reactions an imported message may carry (Teams' import scope)


@dataclass
class People:
    """The old tenant's authors and members as the new tenant knows them."""

    new_ids: dict[str, str]  # old user id (lower) -> new user id
    names: dict[str, str]  # new user id -> display name
    stand_in: str = ""  # the new user id messages of people who do not move are imported under

    def new(self, old_id: str) -> str | None:
        return self.new_ids.get(str(old_id).lower())


@dataclass
class TeamPair:
    old: dict[str, Any]  # the old team
    name: str  # its group's name
    new_group: str | None  # the new group's id (None: the group has not moved)
    new: dict[str, Any] | None = None  # the new team, once made


@dataclass
class ThreadPair:
    """A channel's two sides."""

    key: str  # old team id|old channel id
    name: str
    old: Thread
    new: Thread
    created: str  # when the old thread began
    new_ids: dict[str, str] = field(default_factory=dict)  # old message id -> new, as found or imported


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _settings(team: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(team.get(k) or {}) for k in SETTINGS}


class Teams(Workload):
    kind = "team"
    title = "teams (with their settings)"

    def __init__(self, old: TeamsClient, new: TeamsClient, pairs: list[TeamPair]) -> None:
        self.old, self.new, self.pairs = old, new, pairs

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for pair in self.pairs:
            yield Work(str(pair.old["id"]), pair.name, version=_digest(_settings(pair.old)),
                       detail={"settings": "; ".join(f"{k}: {len(v)}" for k, v in _settings(pair.old).items())},
                       data=pair)

    def find(self, work: Work) -> dict[str, Any] | None:
        pair: TeamPair = work.data
        return self.new.team(pair.new_group) if pair.new_group else None

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        if existing is None:
            return "no team in the new tenant"
        wrong = [f"{k}.{s}" for k, v in _settings(work.data.old).items() for s, x in v.items()
                 if (existing.get(k) or {}).get(s) != x]
        return f"settings differ: {', '.join(wrong)}" if wrong else ""

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        pair: TeamPair = work.data
        if pair.new_group is None:
            raise TenantmoveError(f"{pair.name}: its Microsoft 365 group is not in the new tenant", where=work.name,
                                  hint="phase 30 moves the groups; rerun this phase after it")
        if existing is None:
            pair.new = self.new.make_team(pair.new_group, _settings(pair.old))
            return Applied(str(pair.new["id"]), "created", detail=work.detail)
        pair.new = existing
        if self.differs(work, existing):
            self.new.set_team(str(existing["id"]), _settings(pair.old))
            return Applied(str(existing["id"]), "updated", detail=work.detail)
        return Applied(str(existing["id"]), "adopted", detail=work.detail)


class Channels(Workload):
    kind = "team-channel"
    title = "channels (a private or shared one with its members)"

    def __init__(self, old: TeamsClient, new: TeamsClient, pairs: list[TeamPair], people: People) -> None:
        self.old, self.new, self.pairs, self.people = old, new, pairs, people
        self.listed: list[Work] = []

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.listed = list(self._list())
        return self.listed

    def threads(self, targets: dict[str, str]) -> list[ThreadPair]:
        """Each channel's two sides, for those the run made or found (``targets``: key -> new channel id, this pass's
        and earlier ones')."""
        out = []
        for work in self.listed:
            pair, channel, _ = work.data
            if work.key in targets and pair.new is not None:
                out.append(ThreadPair(work.key, work.name, Thread("channel", str(channel["id"]), str(pair.old["id"])),
                                      Thread("channel", targets[work.key], str(pair.new["id"])),
                                      str(channel.get("createdDateTime") or "")))
        return out

    def _list(self) -> Iterator[Work]:
        for pair in self.pairs:
            if pair.new is None and pair.new_group:  # made by an earlier pass
                pair.new = self.new.team(pair.new_group)
            if pair.new is None:
                continue
            for channel in self.old.channels(str(pair.old["id"])):
                members: list[tuple[str, bool]] = []
                if channel.get("membershipType", "standard") != "standard":
                    members = [(str(m.get("userId")), "owner" in (m.get("roles") or []))
                               for m in self.old.members(Thread("channel", str(channel["id"]), str(pair.old["id"])))]
                yield Work(f"{pair.old['id']}|{channel['id']}", f"{pair.name}: {channel['displayName']}",
                           version=_digest(channel["displayName"], channel.get("description"), sorted(members)),
                           scope=str(pair.old["id"]), detail={"membership": channel.get("membershipType", "standard"),
                                                              "members": len(members)},
                           data=(pair, channel, members))

    def find(self, work: Work) -> dict[str, Any] | None:
        pair, channel, _ = work.data
        assert pair.new is not None
        return next((c for c in self.new.channels(str(pair.new["id"]))
                     if str(c["displayName"]).lower() == str(channel["displayName"]).lower()), None)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        pair, channel, members = work.data
        assert pair.new is not None
        mapped = [(self.people.new(uid), owner) for uid, owner in members]
        moving = [(uid, owner) for uid, owner in mapped if uid]
        left = len(mapped) - len(moving)
        membership = str(channel.get("membershipType") or "standard")
        if membership != "standard" and moving and not any(owner for _, owner in moving):
            moving[0] = (moving[0][0], True)  # a private or shared channel needs an owner: its first member who moves
        action = "adopted"
        if existing is None:
            if membership != "standard" and not moving:
                raise TenantmoveError(f"{work.name}: none of its members moves, and a {membership} channel needs an "
                                      "owner", where=work.name, hint="map at least one of its members and rerun")
            existing = self.new.make_channel(str(pair.new["id"]), str(channel["displayName"]),
                                             str(channel.get("description") or ""), membership, moving)
            action = "created"
        elif membership != "standard" and existing.get("migrationMode") != "inProgress":
            thread = Thread("channel", str(existing["id"]), str(pair.new["id"]))
            have = {str(m.get("userId")) for m in self.new.members(thread)}
            for uid, owner in moving:
                if uid not in have:
                    self.new.add_member(thread, uid, owner)
                    action = "updated"
        note = f"{left} member(s) do not move (not in the user mapping)" if left else ""
        return Applied(str(existing["id"]), action, detail=work.detail, note=note)


class Chats(Workload):
    """The moving people's one-on-one and group chats (a meeting chat cannot be put into migration mode: listed, not
    moved). A chat is made with the members who move; a one-on-one chat needs both."""

    kind = "team-chat"
    title = "chats (one-on-one and group)"

    def __init__(self, old: TeamsClient, new: TeamsClient, people: People, only: list[str] | None = None) -> None:
        """``only``: the old ids of the people whose chats are listed (a person reading their own; None: every
        moving person's)."""
        self.old, self.new, self.people, self.only = old, new, people, only
        self.meetings: list[str] = []  # meeting chats: not moved
        self.listed: list[Work] = []

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        self.meetings.clear()
        self.listed = list(self._list())
        return self.listed

    def threads(self, targets: dict[str, str]) -> list[ThreadPair]:
        """Each chat's two sides, for those the run made or found (``targets``: key -> new chat id)."""
        return [ThreadPair(w.key, f"chat: {w.name}", Thread("chat", str(w.data[0]["id"])),
                           Thread("chat", targets[w.key]), str(w.data[0].get("createdDateTime") or ""))
                for w in self.listed if w.key in targets]

    def _list(self) -> Iterator[Work]:
        seen: set[str] = set()
        for old_user in sorted(self.only if self.only is not None else self.people.new_ids):
            for chat in self.old.chats(old_user):
                if chat["id"] in seen:
                    continue
                seen.add(chat["id"])
                if chat.get("chatType") == "meeting":
                    self.meetings.append(str(chat.get("topic") or chat["id"]))
                    continue
                thread = Thread("chat", str(chat["id"]))
                members = sorted(str(m.get("userId")) for m in self.old.members(thread))
                names = ", ".join(sorted(str(m.get("displayName")) for m in self.old.members(thread)))
                yield Work(f"chat|{chat['id']}", str(chat.get("topic") or f"chat of {names}"),
                           version=_digest(members, chat.get("topic")), scope="chats",
                           detail={"kind": chat.get("chatType"), "members": len(members)}, data=(chat, members))

    def _moving(self, members: list[str]) -> list[str]:
        return sorted(x for x in (self.people.new(m) for m in members) if x)

    def find(self, work: Work) -> dict[str, Any] | None:
        chat, members = work.data
        moving = self._moving(members)
        if not moving:
            return None
        for candidate in self.new.chats(moving[0]):
            if candidate.get("chatType") != chat.get("chatType") or \
                    (candidate.get("topic") or "") != (chat.get("topic") or ""):
                continue
            have = sorted(str(m.get("userId")) for m in self.new.members(Thread("chat", str(candidate["id"]))))
            if have == moving:
                return candidate
        return None

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        chat, members = work.data
        moving = self._moving(members)
        left = len(members) - len(moving)
        if existing is None:
            if chat.get("chatType") == "oneOnOne" and left:
                raise TenantmoveError(f"{work.name}: one of its two people does not move, and a one-on-one chat needs "
                                      "both", where=work.name, hint="map them and rerun, or leave this chat behind")
            if len(moving) < 2:
                raise TenantmoveError(f"{work.name}: fewer than two of its members move", where=work.name,
                                      hint="map its members and rerun, or leave this chat behind")
            existing = self.new.make_chat(str(chat.get("chatType")), str(chat.get("topic") or ""), moving)
            action = "created"
        else:
            action = "adopted"
        note = f"{left} member(s) do not move (not in the user mapping)" if left else ""
        return Applied(str(existing["id"]), action, detail=work.detail, note=note)


WEBSITE_APP = "com.microsoft.teamspace.tab.web"
PNP_TAB_TYPES = {"com.microsoft.teamspace.tab.planner": "Planner", "com.microsoft.teamspace.tab.wiki": "Wiki",
                 "com.microsoft.teamspace.tab.file.staticviewer.pdf": "PDF",
                 "com.microsoftstream.embed.skypeteamstab": "MicrosoftStream"}  # Add-PnPTeamsTab's -Type


class Tabs(Workload):
    """A channel's tabs: a website tab is made again (its URL is all it has); another app's tab holds that app's own
    configuration, which only the app can make: a manual item naming it, read back by the next run."""

    kind = "team-tab"
    title = "channel tabs"
    manual_shell = "PnP PowerShell"

    def __init__(self, old: TeamsClient, new: TeamsClient, threads: list[ThreadPair], new_host: str) -> None:
        """``new_host``: the new tenant's SharePoint host (PnP connects there; its Teams cmdlets use Graph)."""
        self.old, self.new, self.threads = old, new, [t for t in threads if t.old.kind == "channel"]
        self.manual_preamble = (f"Connect-PnPOnline -Url {ps_quote(f'https://{new_host}')} -Interactive",)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for tp in self.threads:
            for tab in self.old.tabs(tp.old):
                app = str((tab.get("teamsApp") or {}).get("id") or "")
                yield Work(f"{tp.key}|{tab['id']}", f"{tp.name}: {tab['displayName']}", scope=tp.key,
                           version=_digest(tab.get("displayName"), (tab.get("configuration") or {}).get("contentUrl")),
                           detail={"app": (tab.get("teamsApp") or {}).get("displayName") or app}, data=(tp, tab, app))

    def find(self, work: Work) -> dict[str, Any] | None:
        tp, tab, _ = work.data
        return next((t for t in self.new.tabs(tp.new) if t.get("displayName") == tab.get("displayName")), None)

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied | ManualStep:
        tp, tab, app = work.data
        if existing is not None:
            return Applied(str(existing["id"]), "adopted", detail=work.detail)
        url = str((tab.get("configuration") or {}).get("contentUrl") or "")
        if app == WEBSITE_APP and url:
            made = self.new.make_website_tab(tp.new, str(tab["displayName"]), url)
            return Applied(str(made["id"]), "created", detail=work.detail)
        pnp = PNP_TAB_TYPES.get(app)
        command = (f"Add-PnPTeamsTab -Team {ps_quote(tp.new.team)} -Channel {ps_quote(tp.new.id)} -DisplayName "
                   f"{ps_quote(str(tab['displayName']))} -Type {pnp}") if pnp else \
            (f"# In {tp.name}, add the tab {tab['displayName']!r} of the app {work.detail['app']} (+ at the top of the "
             "channel)")
        return ManualStep(work.key, f"{work.name}: a tab of the app {work.detail['app']}", [
            "# An app's tab holds the app's own configuration, which only the app makes: this makes a new, empty "
            "one (a Planner tab starts a new plan; the old plan's tasks are not moved)", command],
            check=f"{work.name}: a tab of that name in the new channel")


def reactions(msg: dict[str, Any], people: People) -> tuple[list[dict[str, Any]], int]:
    """A message's reactions as the new tenant names their people (at most 250, the import's scope), and how many
    are left out (by people who do not move, or beyond 250)."""
    out = []
    for r in msg.get("reactions") or []:
        who = people.new(str(((r.get("user") or {}).get("user") or {}).get("id", "")))
        if who and len(out) < MAX_REACTIONS:
            out.append({"reactionType": r.get("reactionType"), "createdDateTime": r.get("createdDateTime"),
                        "user": {"user": {"id": who, "displayName": people.names.get(who),
                                          "userIdentityType": "aadUser"}}})
    return out, len(msg.get("reactions") or []) - len(out)


def import_body(msg: dict[str, Any], people: People, hosted: dict[str, tuple[str, bytes]], old_host: str,
                new_host: str) -> tuple[dict[str, Any], str]:
    """The import request for an old message (with the reactions of people who move), and the name of its author
    when they do not move (imported under the stand-in, with a line saying who wrote it)."""
    user = (msg.get("from") or {}).get("user") or {}
    author = people.new(str(user.get("id", "")))
    left = "" if author else str(user.get("displayName") or user.get("id") or "someone")
    content = str((msg.get("body") or {}).get("content") or "")
    temp = {old: str(i + 1) for i, old in enumerate(hosted)}
    content = HOSTED_RE.sub(lambda m: f"../hostedContents/{temp.get(m.group(1), m.group(1))}/$value", content)
    mentions = []
    for mention in msg.get("mentions") or []:
        who = people.new(str(((mention.get("mentioned") or {}).get("user") or {}).get("id", "")))
        if who:
            mentions.append({"id": mention["id"], "mentionText": mention.get("mentionText"),
                             "mentioned": {"user": {"id": who, "displayName": people.names.get(who),
                                                    "userIdentityType": "aadUser"}}})
    kept = {str(m["id"]) for m in mentions}
    content = MENTION_RE.sub(lambda m: m.group(0) if m.group(1) in kept else m.group(2), content)
    if left:
        content = f"<p><em>Written by {left}, who did not move to the new tenant.</em></p>{content}"
    attachments = []
    for att in msg.get("attachments") or []:
        copy = dict(att)
        if old_host and copy.get("contentUrl"):
            copy["contentUrl"] = str(copy["contentUrl"]).replace(old_host, new_host)
        attachments.append(copy)
    who = author or people.stand_in
    body: dict[str, Any] = {
        "createdDateTime": msg["createdDateTime"],
        "from": {"user": {"id": who, "displayName": people.names.get(who), "userIdentityType": "aadUser"}},
        "body": {"contentType": (msg.get("body") or {}).get("contentType") or "html", "content": content},
        "importance": msg.get("importance") or "normal", "mentions": mentions, "attachments": attachments,
        "reactions": reactions(msg, people)[0],
        "hostedContents": [{"@microsoft.graph.temporaryId": temp[old], "contentType": kind,
                            "contentBytes": base64.b64encode(data).decode()}
                           for old, (kind, data) in hosted.items()]}
    if msg.get("subject"):
        body["subject"] = msg["subject"]
    return body, left


class Messages(Workload):
    """A thread's messages, imported in order (one thread at a time per thread: replies after their message)."""

    kind = "team-message"
    title = "messages (imported with their authors and times)"
    scope_limit = 1  # per thread, in order: a reply needs its message's new id

    def __init__(self, old: TeamsClient, new: TeamsClient, threads: list[ThreadPair], people: People,
                 hosts: tuple[str, str] = ("", "")) -> None:
        """``hosts``: the old and the new tenant's SharePoint host (file links point at the new site's copy)."""
        self.old, self.new, self.threads, self.people, self.hosts = old, new, threads, people, hosts
        self.existing: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}  # thread -> (time, author) -> message
        self.listed: dict[str, dict[str, dict[str, Any]]] = {}  # thread -> old message id -> the old message
        self.partial: set[str] = set()  # threads this pass read only the changes of
        self.started: dict[str, str] = {}  # threads this pass put into migration mode, and when
        self.unread: dict[str, str] = {}  # threads the reader may not read, and the service's reason
        self.lock = threading.Lock()

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for tp in self.threads:
            try:
                changed = self._changed(tp, deltas)
            except GraphError as exc:
                if exc.status != 403:
                    raise
                self.unread[tp.key] = exc.graph_message or str(exc)  # a person's sign-in: not one of theirs
                continue
            for msg in changed:
                if msg.get("messageType", "message") != "message" or msg.get("deletedDateTime"):
                    continue
                self.listed.setdefault(tp.key, {})[str(msg["id"])] = msg
                author = str(((msg.get("from") or {}).get("user") or {}).get("displayName") or "")
                yield Work(f"{tp.key}|{msg['id']}", f"{tp.name}: {msg['createdDateTime']} {author}",
                           version=str(msg.get("lastModifiedDateTime") or msg["createdDateTime"]), scope=tp.key,
                           detail={"reply": bool(msg.get("replyToId")), "author": author}, data=(tp, msg))

    def _changed(self, tp: ThreadPair, deltas: DeltaLinks) -> list[dict[str, Any]]:
        """This pass's messages of a thread: what changed since the last complete pass (where its delta round
        ended), or every message (a first pass, or a thread phase 90 reopened); where the next round starts is
        staged (kept once the pass has no failure)."""
        last = deltas.get(tp.key)
        if last:
            found, end = self.old.changes(tp.old, last)
            self.partial.add(tp.key)
        else:
            began = round_start()
            found = self.old.messages(tp.old)
            during, end = self.old.changes(tp.old, began)  # the round from here on (and what changed meanwhile)
            merged = {str(m["id"]): m for m in found}
            merged.update({str(m["id"]): m for m in during})
            found = list(merged.values())
        deltas.stage(tp.key, end)
        return found

    def begin(self, todo: list[Work]) -> None:
        """What each thread with messages to do holds is read once (for finding what a killed run imported); one
        with a message not there yet is put into migration mode (from before its first message) unless it is
        already, and :attr:`started` says when (its completion is due again)."""
        for tp in {w.data[0].key: w.data[0] for w in todo}.values():
            self._read(tp)
            mine = [w for w in todo if w.data[0] is tp]
            if all(self.find(w) is not None for w in mine):
                continue  # nothing to import: no banner for nothing
            seen = self.new.thread(tp.new)
            if seen.get("migrationMode") != "inProgress":
                first = min([w.data[1]["createdDateTime"] for w in mine] + [tp.created])
                since = first if first < str(seen.get("createdDateTime") or "") else None
                self.new.start_migration(tp.new, _earlier(since) if since else None)
                self.started[tp.key] = round_start()

    def _read(self, tp: ThreadPair) -> None:
        found = {(str(m["createdDateTime"]), str(((m.get("from") or {}).get("user") or {}).get("id", ""))): m
                 for m in self.new.messages(tp.new)}
        with self.lock:
            self.existing[tp.key] = found

    def _author(self, msg: dict[str, Any]) -> str:
        return self.people.new(str(((msg.get("from") or {}).get("user") or {}).get("id", ""))) or self.people.stand_in

    def find(self, work: Work) -> dict[str, Any] | None:
        tp, msg = work.data
        return self.existing.get(tp.key, {}).get((str(msg["createdDateTime"]), self._author(msg)))

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        tp, msg = work.data
        if existing is not None:
            tp.new_ids[str(msg["id"])] = str(existing["id"])
            before = work.before
            changed = before is not None and before.state == "done" and before.version not in (REOPENED, work.version)
            return Applied(str(existing["id"]), "adopted", detail=work.detail, note=(
                "changed in the old tenant after it moved (an edit or a reaction): the copy keeps what it had, since "
                "an imported message cannot be changed") if changed else "")
        parent = ""
        if msg.get("replyToId"):
            parent = self._parent(tp, str(msg["replyToId"]), work.name)
        made, note = self._import(tp, msg, parent)
        return Applied(str(made["id"]), "created", detail=work.detail, note=note)

    def _parent(self, tp: ThreadPair, old_id: str, name: str) -> str:
        """The new id of the message a reply answers: found, or imported now (its own item adopts it after)."""
        if old_id in tp.new_ids:
            return tp.new_ids[old_id]
        original = self.listed.get(tp.key, {}).get(old_id)
        if original is None:
            raise TenantmoveError(f"{name}: the message it answers is gone from the old thread", where=name,
                                  hint="nothing to answer in the new thread: the reply is left out")
        found = self.existing.get(tp.key, {}).get((str(original["createdDateTime"]), self._author(original)))
        made = found if found is not None else self._import(tp, original, "")[0]
        tp.new_ids[old_id] = str(made["id"])
        return str(made["id"])

    def _import(self, tp: ThreadPair, msg: dict[str, Any], parent: str) -> tuple[dict[str, Any], str]:
        hosted = {h: (kind, self.old.hosted_content(tp.old, msg, h)) for h, kind in _hosted_ids(msg)}
        body, left = import_body(msg, self.people, hosted, *self.hosts)
        notes = [f"written by {left}, who does not move: imported under the stand-in, named in the message"] if left \
            else []
        dropped = reactions(msg, self.people)[1]
        if dropped:
            notes.append(f"{dropped} reaction(s) not carried (by people who do not move, or beyond 250)")
        if msg.get("lastEditedDateTime"):
            notes.append("edited in the old tenant: imported as it reads now (Teams keeps no earlier text of an import)")
        note = "; ".join(notes)
        for shift in range(MAX_SHIFTS + 1):
            try:
                made = self.new.import_message(tp.new, body, parent)
                break
            except GraphError as exc:
                if exc.status != 409 or shift == MAX_SHIFTS:
                    raise
                body["createdDateTime"] = _later(str(body["createdDateTime"]))
                note = (note + "; " if note else "") + "its time was taken by another message: moved a millisecond"
        tp.new_ids[str(msg["id"])] = str(made["id"])
        with self.lock:  # found by its own item (a parent imported for its reply first)
            self.existing.setdefault(tp.key, {})[(str(msg["createdDateTime"]), self._author(msg))] = made
        return made, note


class Completion(Workload):
    """Migration mode ends once every message of a thread is in: only then (the app that started it ends it)."""

    kind = "team-thread"
    title = "threads whose import is complete"

    def __init__(self, new: TeamsClient, threads: list[ThreadPair], pending: dict[str, int],
                 started: dict[str, str] | None = None) -> None:
        """``pending``: per thread key, how many of its messages are not imported (the ledger's word); ``started``:
        the threads this pass put into migration mode (a later pass's new messages), whose completion is due again."""
        self.new, self.threads, self.pending, self.started = new, threads, pending, started or {}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for tp in self.threads:
            started = f"|migration started {self.started[tp.key]}" if tp.key in self.started else ""
            yield Work(tp.key, tp.name, version=f"{self.pending.get(tp.key, 0)}{started}", data=tp)

    def find(self, work: Work) -> dict[str, Any] | None:
        return self.new.thread(work.data.new)

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        return "left in migration mode" if (existing or {}).get("migrationMode") == "inProgress" else ""

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        tp: ThreadPair = work.data
        if (existing or {}).get("migrationMode") != "inProgress":
            return Applied(tp.new.id, "adopted", note="not in migration mode")  # completed before
        missing = self.pending.get(tp.key, 0)
        if missing:
            raise TenantmoveError(f"{tp.name}: {missing} message(s) are not imported yet; the thread stays in migration "
                                  "mode (people see a banner)", where=tp.name,
                                  hint="rerun this phase: it imports them and then completes the thread")
        self.new.complete_migration(tp.new)
        return Applied(tp.new.id, "updated", note="migration completed")


def pending(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Per thread key, how many of its messages a run of :class:`Messages` left not imported (from its rows)."""
    out: dict[str, int] = {}
    for row in rows:
        thread = str(row["key"]).rsplit("|", 1)[0]
        out.setdefault(thread, 0)
        if row["action"] not in ("created", "adopted", "done before"):
            out[thread] += 1
    return out


def _hosted_ids(msg: dict[str, Any]) -> list[tuple[str, str]]:
    """The hosted contents a message's body refers to (their type is read with them; images by default)."""
    found = dict.fromkeys(HOSTED_RE.findall(str((msg.get("body") or {}).get("content") or "")), "image/png")
    return list(found.items())


def _shift(stamp: str, ms: int) -> str:
    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + dt.timedelta(milliseconds=ms)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _later(stamp: str) -> str:
    return _shift(stamp, 1)


def _earlier(stamp: str) -> str:
    return _shift(stamp, -1000)
