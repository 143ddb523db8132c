"""Who may open what, through the real client and the sandbox: the sandbox's sharing rules as Graph documents
them, then phase 70's sharing workload carrying grants (people, a guest, a group) and links (organisation,
anonymous, people, with an expiry) with nobody mailed, a password-protected link left to PnP and read back, a
rerun (or a run that lost its ledger) granting and linking nothing twice, and a removed grant, an extra one
and a widened link named by the access matrix and repaired by the rerun."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphClient, GraphError
from tenantmove.services.sharing import SharingClient
from tenantmove.workloads import inventory
from tenantmove.workloads.files import DriveCopy
from tenantmove.workloads.onedrive import find_pairs
from tenantmove.workloads.sharing import LinkMap, Sharing, grantees, matrix

from .conftest import make_client
from .files_helpers import NEW, USERS, clients, copy_files, make_target_users, moving, new_upn, run_keeping

MEGAN = "megan.bowen@contoso.example"
GUEST = "ann.berg@fabrikam.example"


def _drive(client: GraphClient, upn: str) -> str:
    return str(client.get(f"users/{upn}/drive")["id"])


def test_the_sandbox_shares_as_graph_documents(fresh_sandbox: Sandbox) -> None:
    sb = fresh_sandbox
    old = make_client(sb, "source")[1]
    sharing = SharingClient(old)
    drive = _drive(old, MEGAN)
    folder = old.get(f"drives/{drive}/root:/Campaigns/2026")
    inside = old.get(f"drives/{drive}/root:/Campaigns/2026/Budget.xlsx")
    perms = sharing.permissions(drive, inside["id"])
    own = [p for p in perms if not p.inherited]
    assert [(p.kind, p.address, p.role) for p in own] == [("user", GUEST, "read")]
    inherited = [p for p in perms if p.inherited]
    assert ("user", "alex.wilber@contoso.example", "write") in {(p.kind, p.address, p.role) for p in inherited}
    assert any(p.kind == "owner" for p in perms)  # the OneDrive's owner, on everything in it
    listed = {i["name"]: i for i in sharing.shared_items(drive)}
    assert "shared" in listed["2026"] and "shared" not in listed["Campaigns"]  # only where sharing starts
    scan = next(p for p in sharing.permissions(drive, listed["old scan.pdf"]["id"]) if p.kind == "link")
    assert scan.password and scan.scope == "anonymous"

    new = make_client(sb, "target")[1]  # the rules on writes, in the new tenant (the old one is read only)
    make_target_users(sb, new)
    sharing = SharingClient(new)
    drive = _drive(new, new_upn("megan.bowen"))
    folder = new.post(f"drives/{drive}/root/children", {"name": "Shared", "folder": {}})
    sb.admin("POST", "stats/reset")
    with pytest.raises(GraphError) as info:  # a new guest cannot be made by sharing, app-only
        sharing.invite(drive, folder["id"], {"email": "someone@elsewhere.example"}, ["read"])
    assert "new guest" in info.value.graph_message
    root = new.get(f"drives/{drive}/root")
    with pytest.raises(GraphError) as info:
        sharing.invite(drive, root["id"], {"email": new_upn("alex.wilber")}, ["read"])
    assert info.value.status == 403 and "root of a OneDrive" in info.value.graph_message
    for body, says in (({"type": "embed"}, "OneDrive personal"), ({"type": "view", "password": "x"}, "personal")):
        with pytest.raises(GraphError) as info:
            new.post(f"drives/{drive}/items/{folder['id']}/createLink", body)
        assert says in info.value.graph_message
    first, made = sharing.create_link(drive, folder["id"], "view", "organization")
    again, made_again = sharing.create_link(drive, folder["id"], "view", "organization")
    assert made and not made_again and first.id == again.id and first.url == again.url
    new.request("POST", f"drives/{drive}/items/{folder['id']}/invite",
                json={"recipients": [{"email": new_upn("alex.wilber")}], "roles": ["read"]})
    assert sb.admin("GET", "stats")["counts"].get("sharing mails") == 1  # sendInvitation left out: the service mails
    sharing.invite(drive, folder["id"], {"email": new_upn("alex.wilber")}, ["write"])
    assert sb.admin("GET", "stats")["counts"].get("sharing mails") == 1
    grants = [p for p in sharing.permissions(drive, folder["id"]) if p.kind == "user"]
    assert [(p.address, p.role) for p in grants] == [(new_upn("alex.wilber"), "write")]  # one grant, not two
    anyone, _ = sharing.create_link(drive, folder["id"], "view", "anonymous")  # allowed until phase 40 says not
    new.patch("admin/sharepoint/settings", {"sharingCapability": "existingExternalUserSharingOnly"})
    with pytest.raises(GraphError) as info:
        sharing.create_link(drive, folder["id"], "edit", "anonymous")
    assert info.value.status == 403 and "sharing settings" in info.value.graph_message
    assert sharing.remove(drive, folder["id"], anyone.id) and not sharing.remove(drive, folder["id"], anyone.id)


class Move:
    """Phase 70 for Megan and Alex: the files, then their sharing, with the guest invited and Sales made first."""

    def __init__(self, sb: Sandbox, tmp: Path) -> None:
        self.sb, self.tmp = sb, tmp
        self.old_graph, self.new_graph = make_client(sb, "source")[1], make_client(sb, "target")[1]
        make_target_users(sb, self.new_graph)
        self.new_graph.post("invitations", {"invitedUserEmailAddress": GUEST, "sendInvitationMessage": False,
                                            "inviteRedirectUrl": "https://myapps.microsoft.com"})
        self.new_graph.post("groups", {"displayName": "Sales", "mailNickname": "sales", "mailEnabled": True,
                                       "securityEnabled": False, "groupTypes": ["Unified"]})
        copy_files(sb, tmp / "files.sqlite")
        src, tgt = inventory.collect(self.old_graph), inventory.collect(self.new_graph)
        guest_upn = next(u for u, t in zip(src.users["userPrincipalName"], src.users["userType"], strict=True)
                         if t == "Guest" and "ann.berg" in str(u))
        rows = pd.concat([moving(), pd.DataFrame([{"source_upn": guest_upn, "target_upn": GUEST}])])
        self.who = grantees(src, tgt, rows)
        self.links = LinkMap(tmp / "state" / "link-map.csv")

    def workload(self) -> Sharing:
        old, new = clients(self.sb)
        return Sharing(DriveCopy(old, new, find_pairs(old, new, moving(USERS))), self.who, self.links)

    def run(self, run_id: str, ledger: str = "share.sqlite") -> Outcome:
        with Ledger(self.tmp / ledger, run_id) as led:
            return run_keeping(Engine(led, "70_onedrive", folder=self.tmp / run_id, workers=4), self.workload())


def test_grants_and_links_arrive_once_nobody_is_mailed_and_the_password_link_is_read_back(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    move = Move(sb, tmp_path)
    sb.admin("POST", "stats/reset")
    first = move.run("first")
    assert sb.admin("GET", "stats")["counts"].get("sharing mails", 0) == 0  # nobody was mailed
    by_name = {r["name"].split(": ", 1)[1]: r for r in first.rows}
    assert by_name["/Legacy/old scan.pdf"]["action"] == "manual"  # the password: PnP's, read back
    assert first.tally() == {"created": 7, "manual": 1}, first.rows
    new = move.new_graph
    megan_drive = _drive(new, new_upn("megan.bowen"))
    sharing = SharingClient(new)
    budget = new.get(f"drives/{megan_drive}/root:/Campaigns/2026/Budget.xlsx")
    assert [(p.kind, p.address, p.role) for p in sharing.permissions(megan_drive, budget["id"]) if not p.inherited
            and p.kind != "owner"] == [("user", GUEST, "read")]
    alex_drive = _drive(new, new_upn("alex.wilber"))
    pipeline = new.get(f"drives/{alex_drive}/root:/Sales/Pipeline.xlsx")
    group = [p for p in sharing.permissions(alex_drive, pipeline["id"]) if p.kind == "group"]
    assert [(p.name, p.role) for p in group] == [("Sales", "write")]
    rows = move.links.rows()
    assert len(rows) == 4 and all(r["old url"] != r["new url"] and r["new url"].startswith("https://contosonew")
                                  for r in rows)  # organisation, anonymous, expiring edit, people
    deep = next(r for r in rows if r["path"] == "/Sales/Deep")
    assert deep["link"] == "view/users" and deep["people"] == new_upn("megan.bowen")
    video = next(p for p in sharing.permissions(megan_drive, new.get(
        f"drives/{megan_drive}/root:/Campaigns/video.mp4")["id"]) if p.kind == "link")
    assert (video.link_type, video.scope, video.expires[:10]) == ("edit", "organization", "2027-06-30")
    written = tmp_path / "first" / "manual-sharing.ps1"
    assert "Add-PnPFileAnonymousSharingLink -FileUrl '/personal/" in written.read_text()
    sb.admin("POST", f"powershell/{NEW}", data=written.read_bytes())  # the admin makes it, with a new password

    again = move.run("again")
    assert again.tally() == {"done before": 7, "adopted": 1}
    lost = move.run("after a kill", ledger="lost.sqlite")  # a ledger that never heard of them: all adopted
    assert lost.tally() == {"adopted": 8}
    assert len(move.links.rows()) == 5  # one row per old link (the password's too, once made), whatever the reruns
    assert sb.admin("GET", "stats")["counts"].get("sharing mails", 0) == 0
    assert (matrix(move.workload())["verdict"] == "same").all()
    out = move.links.write_run_copy(tmp_path / "run")
    mine = tmp_path / "run" / "links" / f"{new_upn('megan.bowen')}.csv"
    assert mine in out and len(list(csv.DictReader(mine.open()))) == 4


def test_a_removed_grant_an_extra_one_and_a_widened_link_are_named_and_repaired(fresh_sandbox: Sandbox,
                                                                                tmp_path: Path) -> None:
    sb = fresh_sandbox
    move = Move(sb, tmp_path)
    move.run("first")
    sb.admin("POST", f"powershell/{NEW}", data=(tmp_path / "first" / "manual-sharing.ps1").read_bytes())
    assert move.run("read back").tally() == {"done before": 7, "adopted": 1}
    new, sharing = move.new_graph, SharingClient(move.new_graph)
    drive = _drive(new, new_upn("megan.bowen"))
    folder = new.get(f"drives/{drive}/root:/Campaigns/2026")
    alex = next(p for p in sharing.permissions(drive, folder["id"]) if p.kind == "user" and not p.inherited)
    sharing.remove(drive, folder["id"], alex.id)  # a grant removed
    sharing.invite(drive, folder["id"], {"email": GUEST}, ["read"])  # an extra one: the guest, on the whole folder
    plan = new.get(f"drives/{drive}/root:/Campaigns/2026/Plan.docx")
    link = next(p for p in sharing.permissions(drive, plan["id"]) if p.kind == "link")
    sb.admin("POST", f"files/{NEW}/{new_upn('megan.bowen')}",
             json={"op": "widen", "path": "Campaigns/2026/Plan.docx", "link": link.id, "scope": "anonymous"})
    found = matrix(move.workload())
    wrong = found[found["verdict"] != "same"]
    assert set(zip(wrong["object"], wrong["who"], wrong["verdict"], strict=True)) == {
        ("/Campaigns/2026", new_upn("alex.wilber"), "missing"),
        ("/Campaigns/2026", GUEST, "extra: the old tenant did not give it"),
        ("/Campaigns/2026/Plan.docx", "anyone in the organisation with the link", "missing"),
        ("/Campaigns/2026/Plan.docx", "anyone with the link", "extra: the old tenant did not give it")}
    with Ledger(tmp_path / "share.sqlite", "verify") as led:  # phase 90 reopens the objects by key
        assert led.reopen("sharing", sorted(set(wrong["key"])), "differs") == 2
    repaired = move.run("repair")
    assert repaired.tally() == {"done before": 6, "updated": 2}
    assert (matrix(move.workload())["verdict"] == "same").all()
