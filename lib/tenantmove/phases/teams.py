"""Phase 65: Teams. After the sites (a team's files live in its site, moved by phase 50) and the people (authors and
members must exist): a team for each moved Microsoft 365 group that had one, with its settings; its channels, a
private or shared one with its members; each channel's conversation imported in migration mode with its authors
and times, and the thread completed once every message is in. Counted per thread on both sides; phase 90
reconciles the teams and each thread (count, authors, first and last time, a digest of the bodies) and names a
thread left in migration mode."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..engine import DeltaLinks
from ..report import Report, ShowsItself
from ..runbook import readiness as ready
from ..runbook.confirm import ConfirmGate
from ..runbook.context import Phase
from ..services.graph import GraphClient, GraphError
from ..services.sites import SiteClient
from ..services.teams import TeamsClient, Thread
from ..workloads.inventory import Inventory, group_kind
from ..workloads.teams import (
    Channels,
    Chats,
    Completion,
    Messages,
    People,
    Tabs,
    TeamPair,
    Teams,
    ThreadPair,
    pending,
    reactions,
)
from .checks import Check, Reads, reconciles, workload_check
from .common import StepResult, Steps, apply_workloads, known_people, plan_workloads

NOT_MOVED = pd.DataFrame([
    {"what": "meeting chats", "why": "they cannot be put into migration mode"},
    {"what": "a chat whose people do not move", "why": "a one-on-one chat needs both people, a group chat two"},
    {"what": "an app's tab", "why": "its configuration is the app's own: a manual item names it (a website tab is made)"},
    {"what": "reactions of people who do not move", "why": "a reaction is imported under its person (up to 250 a message)"},
    {"what": "an edited message's earlier text", "why": "import takes a message as it reads now"},
    {"what": "an edit or reaction after a message moved", "why": "an imported message cannot be changed: phase 90 "
                                                                 "names it"},
    {"what": "meeting recordings, call history, apps and bots", "why": "no Graph route carries them"},
], columns=["what", "why"])
COUNT_COLUMNS = ["thread", "old", "new", "missing", "authors as before", "first and last as before", "bodies as before",
                 "reactions", "reactions as before", "file links", "file links as before", "migration mode", "key",
                 "not readable"]
STAND_IN_RE = re.compile(r"^<p><em>Written by .*?, who did not move to the new tenant\.</em></p>")
HOSTED_RE = re.compile(r"hostedContents/[^/\"']+/")


@dataclass
class TeamsMove:
    old: TeamsClient
    new: TeamsClient
    pairs: list[TeamPair]
    people: People
    hosts: tuple[str, str]
    reader: TeamsClient | None = None  # who reads the old messages: the app, a person, or nobody (not approved)
    unreadable: str = ""  # why the old tenant's app may not read messages ("" when it may)
    person: str = ""  # the old id of the person reading, when a person does

    def teams(self) -> Teams:
        return Teams(self.old, self.new, self.pairs)

    def channels(self) -> Channels:
        return Channels(self.old, self.new, self.pairs, self.people)

    def chats(self) -> Chats:
        """The moving people's chats, read by the app; a person's own only, when a person reads."""
        return Chats(self.reader or self.old, self.new, self.people, [self.person] if self.person else None)


def old_teams(old: TeamsClient, src: Inventory) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The old tenant's teams: (its Microsoft 365 group's inventory row, the team)."""
    out = []
    for _, g in src.groups.iterrows():
        if g["kind"] == group_kind({"groupTypes": ["Unified"]}):
            team = old.team(str(g["id"]))
            if team is not None:
                out.append((dict(g), team))
    return out


def connect(phase: Phase, old_graph: GraphClient, new_graph: GraphClient, src: Inventory, tgt: Inventory,
            moving: pd.DataFrame, person: GraphClient | None = None) -> TeamsMove:
    """The old tenant's teams (of its Microsoft 365 groups), each with its group in the new tenant; the people
    through the mapping (guests too); the stand-in for authors who do not move; who reads the old messages: the
    app, or (Microsoft has not approved it for Teams' protected APIs) a person's sign-in (``person``, or one made
    here when ``teams_person`` asks for it), or nobody."""
    old, new = TeamsClient(old_graph), TeamsClient(new_graph)
    new_groups = {str(n).lower(): str(i) for n, i in zip(tgt.groups["mailNickname"], tgt.groups["id"], strict=True)}
    pairs = []
    for g, team in old_teams(old, src):
        pairs.append(TeamPair(team, str(g["displayName"]), new_groups.get(str(g["mailNickname"]).lower())))
        pairs[-1].new = new.team(pairs[-1].new_group) if pairs[-1].new_group else None
    rows = known_people(phase, moving)
    new_id = {str(u).lower(): str(i) for u, i in zip(tgt.users["userPrincipalName"], tgt.users["id"], strict=True)}
    new_id.update({str(m).lower(): str(i) for m, i in zip(tgt.users["mail"], tgt.users["id"], strict=True)
                   if isinstance(m, str) and m})
    old_id = {str(u).lower(): str(i) for u, i in zip(src.users["userPrincipalName"], src.users["id"], strict=True)}
    ids = {old_id[str(s).lower()].lower(): new_id[str(t).lower()] for s, t in zip(rows["source_upn"], rows["target_upn"],
                                                                                 strict=True)
           if str(s).lower() in old_id and str(t).lower() in new_id}
    names = {str(i): str(n) for i, n in zip(tgt.users["id"], tgt.users["displayName"], strict=True)}
    stand_in = phase.params.teams_stand_in or f"admin@{tgt.initial_domain}"
    hosts = (str(old_graph.get("sites/root")["siteCollection"]["hostname"]),
             str(new_graph.get("sites/root")["siteCollection"]["hostname"]))
    move = TeamsMove(old, new, pairs, People(ids, names, new_id.get(stand_in.lower(), "")), hosts, reader=old,
                     unreadable=unreadable(old, pairs))
    if move.unreadable:
        if person is None and phase.params.teams_person:
            person = phase.sign_in_person("source")
        move.reader = TeamsClient(person) if person is not None else None
        move.person = str(person.get("me")["id"]) if person is not None else ""
    return move


PROTECTED_HINT = ("ask Microsoft to approve the old tenant's app for Teams' protected APIs (the request form linked from "
                  "https://learn.microsoft.com/graph/teams-protected-apis; the new tenant's app too, for the read-back), "
                  "then rerun phase 65: it moves what is missing; meanwhile `teams_person: true` reads a person's own "
                  "chats and their teams' channels with their sign-in")


def unreadable(old: TeamsClient, pairs: list[TeamPair] | list[dict[str, Any]]) -> str:
    """"" when the old tenant's app may read Teams messages (a protected API Microsoft approves per app), or there
    is no team to read; otherwise the service's reason. ``pairs``: the teams (or their pairs)."""
    for pair in pairs:
        team = pair.old if isinstance(pair, TeamPair) else pair
        general = next(iter(old.channels(str(team["id"]))), None)
        if general is not None:
            return old.messages_readable(Thread("channel", str(general["id"]), str(team["id"])))
    return ""


def readiness(old_graph: GraphClient, src: Inventory) -> list[ready.Check]:
    """Phase 00's word on phase 65: may the old tenant's app read the teams' messages (Teams' protected APIs)?"""
    name = "Teams' protected APIs (phase 65)"
    old = TeamsClient(old_graph)
    try:
        teams = [team for _, team in old_teams(old, src)]
        why = unreadable(old, teams)
    except GraphError as exc:
        return [ready.Check(name, "warn", f"the old tenant's teams could not be read: {exc.graph_message or exc}",
                            "grant the phase 65 permissions in the README's table, then rerun 00_prepare")]
    if not teams:
        return [ready.Check(name, "ok", "the old tenant has no teams")]
    if why:
        return [ready.Check(name, "warn", f"{len(teams)} team(s), but the old tenant's app may not read their "
                                          f"messages: {why}", PROTECTED_HINT)]
    return [ready.Check(name, "ok", f"{len(teams)} team(s); the old tenant's app may read their messages (Microsoft "
                                    "approved it)")]


@dataclass(repr=False)
class TeamsPlan(ShowsItself):
    teams: pd.DataFrame
    outcomes: list[Any]
    reader: str = "the app"  # who reads the old messages
    unreadable: str = ""  # why the app may not

    def report(self) -> Report:
        report = Report().table(self.teams, "Per team: its group in the new tenant, its channels and their messages")
        for outcome in self.outcomes:
            report.add(outcome.report())
        if self.unreadable:
            report.banner("warn", f"The old tenant's app may not read Teams messages ({self.unreadable}): they are read "
                                  f"by {self.reader}. HINT: {PROTECTED_HINT}")
        report.table(NOT_MOVED, "What this phase does not move")
        return report.text("Each channel is put into migration mode while its messages are imported (people see a "
                           "banner until it completes), and completed once every message is in. Authors who do not "
                           "move are imported under the stand-in (`teams_stand_in`), with a line naming who wrote it.")


def plan(phase: Phase, move: TeamsMove) -> TeamsPlan:
    outcomes = plan_workloads(phase, [move.teams(), *([move.chats()] if move.reader is not None else [])])
    rows = []
    for pair in move.pairs:
        for channel in move.old.channels(str(pair.old["id"])):
            rows.append({"team": pair.name, "group in the new tenant": "yes" if pair.new_group else "not yet (phase 30)",
                         "channel": channel["displayName"], "kind": channel.get("membershipType", "standard")})
    table = pd.DataFrame(rows, columns=["team", "group in the new tenant", "channel", "kind"])
    phase.save_table("teams-plan", table)
    reader = "nobody: the conversations will be listed as not moved" if move.reader is None else (
        "a person's sign-in (their own chats and their teams' channels)" if move.person else "the app")
    return TeamsPlan(table, outcomes, reader, move.unreadable)


def digest(messages: list[dict[str, Any]], hosts: tuple[str, str] = ("", "")) -> str:
    """The bodies of a thread, in time order, as both sides hold them (hosted content ids, the stand-in's line and
    the SharePoint host left out)."""
    text = []
    for m in sorted(messages, key=lambda x: str(x["createdDateTime"])):
        body = STAND_IN_RE.sub("", str((m.get("body") or {}).get("content") or ""))
        if hosts[0]:
            body = body.replace(hosts[0], hosts[1])
        text.append(HOSTED_RE.sub("hostedContents/*/", body))
    return hashlib.sha256("\n".join(text).encode()).hexdigest()[:16]


def thread_counts(move: TeamsMove, threads: list[ThreadPair],
                  listed: dict[str, dict[str, dict[str, Any]]] | None = None) -> pd.DataFrame:
    """Per thread, both sides: messages, authors (as the new tenant names them), first and last time, the bodies'
    digest, the reactions of people who move, the file links (each opens a file in the new site when it did in the
    old one), and whether it is still in migration mode. ``listed``: old threads'
    messages as the import just read them whole (a thread not in it is read here)."""
    rows = []
    found: dict[tuple[str, str], bool] = {}  # (side, a message's file link) -> it opens a file there
    files = {"old": SiteClient(move.old.graph), "new": SiteClient(move.new.graph)}
    for tp in threads:
        try:
            old_msgs = list((listed or {})[tp.key].values()) if tp.key in (listed or {}) else \
                [m for m in (move.reader or move.old).messages(tp.old) if not m.get("deletedDateTime")
                 and m.get("messageType", "message") == "message"]  # what the import carries: no system events
        except GraphError as exc:
            if exc.status != 403:
                raise
            rows.append({"thread": tp.name, "key": tp.key, "not readable": move.unreadable or exc.graph_message})
            continue
        new_msgs = move.new.messages(tp.new)
        want = sorted(move.people.new(str(((m.get("from") or {}).get("user") or {}).get("id", ""))) or
                      move.people.stand_in for m in old_msgs)
        got = sorted(str(((m.get("from") or {}).get("user") or {}).get("id", "")) for m in new_msgs)
        times = sorted(str(m["createdDateTime"]) for m in old_msgs), sorted(str(m["createdDateTime"]) for m in new_msgs)
        carried = sum(len(reactions(m, move.people)[0]) for m in old_msgs)
        links = {side: [str(a["contentUrl"]) for m in msgs for a in m.get("attachments") or []
                        if a.get("contentType") == "reference" and a.get("contentUrl")]
                 for side, msgs in (("old", old_msgs), ("new", new_msgs))}
        for side in ("old", "new"):
            for link in links[side]:
                if (side, link) not in found:
                    found[side, link] = files[side].file_at(link) is not None
        rows.append({"thread": tp.name, "old": len(old_msgs), "new": len(new_msgs),
                     "missing": max(0, len(old_msgs) - len(new_msgs)), "authors as before": want == got,
                     "first and last as before": (times[0][:1] + times[0][-1:]) == (times[1][:1] + times[1][-1:]),
                     "bodies as before": digest(old_msgs, move.hosts) == digest(new_msgs),
                     "reactions": carried, "reactions as before": carried == sum(len(m.get("reactions") or [])
                                                                                 for m in new_msgs),
                     "file links": len(links["new"]), "file links as before": sorted(
                         found["old", x] for x in links["old"]) == sorted(found["new", x] for x in links["new"]),
                     "migration mode": move.new.thread(tp.new).get("migrationMode") or "", "key": tp.key,
                     "not readable": ""})
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)


def apply(phase: Phase, move: TeamsMove, gate: ConfirmGate) -> StepResult:
    return apply_workloads(phase, gate, "imported", "Teams item(s)", lambda steps: move_and_count(phase, move, steps))


def move_and_count(phase: Phase, move: TeamsMove, steps: Steps) -> dict[str, Any]:
    """Teams, channels, chats, tabs, messages, completion; then each thread counted on both sides. Threads nobody may
    read (the app not approved, and no person reading or not one of theirs) are listed as not moved."""
    steps.run(move.teams())
    channels = move.channels()
    channel_threads = channels.threads(steps.run(channels).targets())  # done before included: a later pass
    chats = move.chats()
    chat_threads = chats.threads(steps.run(chats).targets()) if move.reader is not None else []
    threads = channel_threads + chat_threads
    steps.run(Tabs(move.old, move.new, threads, move.hosts[1]))
    report: Report = steps.report
    unread = {tp.key: move.unreadable for tp in threads} if move.reader is None else {}
    counted: list[ThreadPair] = []
    listed: dict[str, dict[str, dict[str, Any]]] = {}  # the old threads the import read whole
    summary: dict[str, Any] = {}
    if move.reader is not None:
        importer = Messages(move.reader, move.new, threads, move.people, move.hosts)
        messages = steps.run(importer)
        unread = dict(importer.unread)
        counted = [tp for tp in threads if tp.key not in unread]
        steps.run(Completion(move.new, counted, pending(messages.rows), importer.started))
        listed = {k: v for k, v in importer.listed.items() if k not in importer.partial}
        summary = {"messages imported under the stand-in": sum(1 for r in messages.rows if r["action"] == "created"
                                                               and "stand-in" in str(r.get("note") or "")),
                   "threads read by their changes only": len(importer.partial),
                   "messages changed after they moved": sum(1 for r in messages.rows
                                                            if "after it moved" in str(r.get("note") or ""))}
    table = thread_counts(move, counted, listed)
    phase.save_table("teams-threads", table)
    report.table(table.drop(columns=["key", "not readable"]), "Messages per channel and chat, old and new")
    if not table.empty:
        report.bars(table, "thread", ["new", "missing"], "Messages per channel and chat in the new tenant, and "
                    "missing", "messages")
    left = table[table["migration mode"] == "inProgress"]
    if not left.empty:
        report.banner("warn", f"{len(left)} channel(s) are still in migration mode (people see a banner): rerun this "
                              "phase; it imports what is missing and completes them")
    if unread or (move.unreadable and move.reader is None):
        skipped = pd.DataFrame([{"thread": tp.name, "why": unread[tp.key]} for tp in threads if tp.key in unread] +
                               ([{"thread": "the moving people's chats", "why": move.unreadable}]
                                if move.reader is None else []), columns=["thread", "why"])
        phase.save_table("teams-not-moved", skipped)
        report.table(skipped, "Conversations not moved: nobody this phase signs in as may read them")
        report.banner("warn", f"{len(skipped)} conversation(s) not moved. HINT: {PROTECTED_HINT}")
    return {"teams": len(move.pairs), "channels": len(channel_threads), "chats": len(chat_threads),
            "meeting chats not moved": len(chats.meetings), "messages old": int(table["old"].sum()),
            "messages new": int(table["new"].sum()), "threads left in migration mode": len(left),
            "conversations not moved (not readable)": len(unread) + int(move.reader is None),
            "messages read as": "the app" if move.reader is move.old else ("a person" if move.reader else "nobody"),
            "reactions carried": int(table["reactions"].sum()), "file links": int(table["file links"].sum()),
            "threads whose file links do not all open": int((~table["file links as before"].astype(bool)).sum()),
            **summary}


@reconciles("teams", "team messages")
def teams_reconciled(r: Reads) -> list[Check]:
    move = connect(r.phase, r.old, r.new, r.src, r.tgt, r.moving, person=r.old_person)
    teams = workload_check("teams", move.teams())
    channels = move.channels()
    threads = []
    for pair in move.pairs:
        if pair.new is None:
            continue
        new_channels = {str(c["displayName"]).lower(): c for c in move.new.channels(str(pair.new["id"]))}
        for c in move.old.channels(str(pair.old["id"])):
            found = new_channels.get(str(c["displayName"]).lower())
            if found is not None:
                threads.append(ThreadPair(f"{pair.old['id']}|{c['id']}", f"{pair.name}: {c['displayName']}",
                                          Thread("channel", str(c["id"]), str(pair.old["id"])),
                                          Thread("channel", str(found["id"]), str(pair.new["id"])),
                                          str(c.get("createdDateTime") or "")))
            else:
                teams.add(f"{pair.name}: {c['displayName']}", 1, 0, missing=1, detail="no such channel in the new team")
                teams.reopen.append((channels.kind, "key", f"{pair.old['id']}|{c['id']}", "channel missing"))
    chats = move.chats()
    for work in chats.list(DeltaLinks(None, chats.kind)):
        found = chats.find(work)
        if found is None:
            teams.add(f"chat: {work.name}", 1, 0, missing=1, detail="no such chat in the new tenant")
            teams.reopen.append((chats.kind, "key", work.key, "chat missing"))
            continue
        chat = work.data[0]
        threads.append(ThreadPair(work.key, f"chat: {work.name}", Thread("chat", str(chat["id"])),
                                  Thread("chat", str(found["id"])), str(chat.get("createdDateTime") or "")))
    check = Check("team messages")
    for _, row in thread_counts(move, threads).iterrows():
        if row["not readable"]:
            check.add(str(row["thread"]), 0, 0, mismatched=1, detail=f"not readable in the old tenant: "
                                                                     f"{row['not readable']}")
            continue
        wrong = [what for what in ("authors as before", "first and last as before", "bodies as before",
                                   "reactions as before", "file links as before") if not row[what]]
        if row["migration mode"] == "inProgress":
            wrong.append("left in migration mode")
        why = ", ".join(w.replace(" as before", " differ") for w in wrong)
        if row["migration mode"] == "inProgress":  # its rerun completes it (after importing what is missing)
            check.reopen.append((Completion.kind, "key", str(row["key"]), f"{row['thread']}: left in migration mode"))
        if int(row["missing"]) or [w for w in wrong if w != "left in migration mode"]:  # its rerun reads it whole
            check.reopen.append((Messages.kind, "scope", str(row["key"]), f"{row['thread']}: {why or 'missing'}"))
        check.add(str(row["thread"]), int(row["old"]), int(row["new"]), missing=int(row["missing"]),
                  extra=max(0, int(row["new"]) - int(row["old"])), mismatched=int(bool(wrong)), detail=why)
    return [teams, check]
