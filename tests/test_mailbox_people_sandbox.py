"""Phase 60's people, through the real client and the sandbox: photos, mailbox settings, calendar permissions and
inbox rules arrive with the people in them mapped; a rerun (or a run killed and rerun) grants nothing twice and
duplicates no rule; a rule forwarding outside is reported and read back once the admin made it; a photo the new
tenant refuses fails its own item; each kind's reconciliation names a difference made behind its back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tenantmove.engine import Engine, Ledger, Outcome
from tenantmove.phases.checks import workload_check
from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphClient
from tenantmove.services.mailboxes import MailboxClient
from tenantmove.workloads import inventory
from tenantmove.workloads.addresses import OUTSIDE, Addresses, Owner
from tenantmove.workloads.calendarperms import CalendarPermissions
from tenantmove.workloads.inboxrules import InboxRules, graph_folder_map, mail_folder_paths
from tenantmove.workloads.mail import MailCopy, MailFolders, find_mailboxes
from tenantmove.workloads.mailboxsettings import MailboxSettings
from tenantmove.workloads.photos import Photos

from .conftest import make_client
from .files_helpers import NEW, new_upn, run_keeping

NICKS = ("megan.bowen", "alex.wilber", "bianca.vance")
PREMIUM = "O365_BUSINESS_PREMIUM"


def licensed_users(new: GraphClient, nicks: tuple[str, ...] = NICKS) -> None:
    skus = {s["skuPartNumber"]: s["skuId"] for s in new.get("subscribedSkus")["value"]}
    for nick in nicks:
        made = new.post("users", {"accountEnabled": True, "displayName": nick, "mailNickname": nick.replace(".", ""),
                                  "userPrincipalName": new_upn(nick), "usageLocation": "NL",
                                  "passwordProfile": {"password": "Tm-test-Pa55word!",
                                                      "forceChangePasswordNextSignIn": True}})
        new.post(f"users/{made['id']}/assignLicense", {"addLicenses": [{"skuId": skus[PREMIUM], "disabledPlans": []}],
                                                       "removeLicenses": []})


class Move:
    """What phase 60 does for its people: folders first, then the photo, settings, calendar and rules."""

    def __init__(self, sb: Sandbox, nicks: tuple[str, ...] = NICKS) -> None:
        self.old, self.new = make_client(sb, "source")[1], make_client(sb, "target")[1]
        src = inventory.collect(self.old)
        ids = dict(zip(src.users["userPrincipalName"].str.lower(), src.users["id"], strict=True))
        self.moving = pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": new_upn(n)} for n in nicks])
        o, n = MailboxClient(self.old), MailboxClient(self.new)
        wanted = [(f"{x}@contoso.example", ids[f"{x}@contoso.example"], new_upn(x)) for x in nicks]
        self.copy = MailCopy(o, n, find_mailboxes(o, n, wanted))
        self.copy.load_folders()
        self.owners = [Owner(p.source_name, ids[p.source_name], str(p.target_name)) for p in self.copy.ready()]
        self.addresses = Addresses(self.moving, src)
        folders = graph_folder_map(self.old, self.new)  # a rule names its folder by the Graph mailFolder id
        self.workloads = {"photo": Photos(self.old, self.new, self.owners),
                          "mailbox-settings": MailboxSettings(self.old, self.new, self.owners),
                          "calendar-permission": CalendarPermissions(self.old, self.new, self.owners, self.addresses),
                          "inbox-rule": InboxRules(self.old, self.new, self.owners, self.addresses, folders)}

    def run(self, ledger: Path, run_id: str = "r", folders: bool = True) -> dict[str, Outcome]:
        with Ledger(ledger, run_id) as led:
            engine = Engine(led, "60_mailboxes", folder=ledger.parent / run_id, workers=4)
            out = {"folder": run_keeping(engine, MailFolders(self.copy))} if folders else {}
            for kind, workload in self.workloads.items():
                out[kind] = run_keeping(engine, workload)
            return out


def test_photos_settings_delegates_and_rules_arrive_mapped_and_a_rerun_grants_nothing_twice(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    sb = fresh_sandbox
    new = make_client(sb, "target")[1]
    licensed_users(new)
    move = Move(sb)
    out = move.run(tmp_path / "l.sqlite")
    assert out["photo"].tally() == {"created": 2}  # Megan's and Alex's; Bianca has none
    assert move.old.request("GET", "users/megan.bowen@contoso.example/photo/$value").content == \
        new.request("GET", f"users/{new_upn('megan.bowen')}/photo/$value").content
    settings = new.get(f"users/{new_upn('megan.bowen')}/mailboxSettings")
    assert settings["automaticRepliesSetting"]["status"] == "scheduled"
    assert settings["automaticRepliesSetting"]["scheduledEndDateTime"]["dateTime"].startswith("2026-12-15T18:00")
    assert (settings["timeZone"], settings["language"]["locale"], settings["dateFormat"]) == \
        ("W. Europe Standard Time", "nl-NL", "dd-MM-yyyy")
    assert settings["workingHours"]["daysOfWeek"] == ["monday", "tuesday", "wednesday", "thursday"]
    perms = {p["emailAddress"]["address"] or "org": p["role"]
             for p in new.get(f"users/{new_upn('megan.bowen')}/calendar/calendarPermissions")["value"]}
    assert perms == {"org": "freeBusyRead", new_upn("bianca.vance"): "delegateWithPrivateEventAccess",
                     new_upn("alex.wilber"): "read"}
    rules = {r["displayName"]: r for r in new.get(f"users/{new_upn('megan.bowen')}/mailFolders/inbox/messageRules")["value"]}
    assert set(rules) == {"Newsletters to their folder", "Sales leads to Alex"}  # the outside forward is reported
    assert rules["Sales leads to Alex"]["actions"]["forwardTo"][0]["emailAddress"]["address"] == new_upn("alex.wilber")
    where = mail_folder_paths(new, new_upn("megan.bowen"))[rules["Newsletters to their folder"]["actions"]["moveToFolder"]]
    assert where == "Newsletters"
    old_paths = mail_folder_paths(move.old, "megan.bowen@contoso.example")
    assert {"Inbox", "Newsletters", "Projects", "Projects/2026", "Projects/Archive"} <= set(old_paths.values())
    assert "Calendar" not in old_paths.values()  # a calendar is not a mail folder
    paged = move.old.get_all("users/megan.bowen@contoso.example/mailFolders", {"$top": "2"})  # next links followed
    assert len(paged) == len([p for p in old_paths.values() if "/" not in p]) == len({f["id"] for f in paged})
    alex = new.get(f"users/{new_upn('alex.wilber')}/mailFolders/inbox/messageRules")["value"]
    assert alex[0]["conditions"]["fromAddresses"][0]["emailAddress"]["address"] == new_upn("megan.bowen")

    # the outside forward: a manual item with New-InboxRule, read back once the admin ran it
    assert out["inbox-rule"].tally() == {"created": 3, "manual": 1}
    script = out["inbox-rule"].script
    assert script is not None and "megan.bowen@fabrikam-home.example" in script.read_text()
    assert OUTSIDE in script.read_text()
    done = sb.admin("POST", f"powershell/{NEW}", data=script.read_bytes())["done"]
    assert done == [f"created the inbox rule 'Copy to my home address' in {new_upn('megan.bowen')}"]

    again = move.run(tmp_path / "l.sqlite", run_id="again")
    assert again["inbox-rule"].tally() == {"done before": 3, "adopted": 1}
    for kind in ("photo", "mailbox-settings", "calendar-permission"):
        assert again[kind].tally() == {"done before": len(out[kind].rows)}, kind
    for kind, workload in move.workloads.items():
        assert workload_check(kind, workload).problems.empty, kind

    # behind the runbook's back: a delegate removed, a rule edited, the out-of-office switched off, a photo replaced
    bianca = next(p for p in new.get(f"users/{new_upn('megan.bowen')}/calendar/calendarPermissions")["value"]
                  if p["emailAddress"]["address"] == new_upn("bianca.vance"))
    new.delete(f"users/{new_upn('megan.bowen')}/calendar/calendarPermissions/{bianca['id']}")
    rule = rules["Sales leads to Alex"]
    new.patch(f"users/{new_upn('megan.bowen')}/mailFolders/inbox/messageRules/{rule['id']}",
              {"conditions": {"subjectContains": ["lead", "offer"]}})
    new.patch(f"users/{new_upn('megan.bowen')}/mailboxSettings", {"automaticRepliesSetting": {"status": "disabled"}})
    new.request("PUT", f"users/{new_upn('alex.wilber')}/photo/$value", data=b"\x89PNG other",
                headers={"Content-Type": "image/png"})
    found = {kind: workload_check(kind, w) for kind, w in move.workloads.items()}
    assert list(found["calendar-permission"].problems["detail"]) == \
        [f"{new_upn('bianca.vance')} has no permission on the new calendar"]
    assert found["calendar-permission"].reopen[0][:3] == ("calendar-permission", "key",
                                                           "megan.bowen@contoso.example/bianca.vance@contoso.example")
    assert list(found["inbox-rule"].problems["detail"]) == ["differs: conditions"]
    assert list(found["mailbox-settings"].problems["detail"]) == ["differs: automaticRepliesSetting"]
    assert list(found["photo"].problems["detail"]) == ["the photo differs"]


def test_a_run_killed_midway_and_rerun_invites_nobody_twice_and_duplicates_no_rule(fresh_sandbox: Sandbox,
                                                                                   tmp_path: Path) -> None:
    """Killed after the grants and rules were made but before the ledger knew: the rerun finds them by person and by
    name (the sandbox refuses a second grant to the same person, as Exchange does, so none could slip through)."""
    sb = fresh_sandbox
    new = make_client(sb, "target")[1]
    licensed_users(new)
    Move(sb).run(tmp_path / "first.sqlite")
    rerun = Move(sb).run(tmp_path / "lost.sqlite", run_id="after-kill")  # a ledger that never heard of them
    assert rerun["calendar-permission"].tally() == {"adopted": 5}  # two grants, three organisation entries
    assert rerun["inbox-rule"].tally() == {"adopted": 3, "manual": 1}
    megan = new_upn("megan.bowen")
    names = [r["displayName"] for r in new.get(f"users/{megan}/mailFolders/inbox/messageRules")["value"]]
    assert sorted(names) == ["Newsletters to their folder", "Sales leads to Alex"]
    grants = [p["emailAddress"]["address"] for p in new.get(f"users/{megan}/calendar/calendarPermissions")["value"]]
    assert len(grants) == len(set(grants)) == 3


def test_a_refused_photo_and_a_rule_whose_folder_did_not_arrive_fail_their_own_items(fresh_sandbox: Sandbox,
                                                                                     tmp_path: Path) -> None:
    sb = fresh_sandbox
    new = make_client(sb, "target")[1]
    licensed_users(new)
    sb.set_knobs(photo_max_bytes=1000)  # the new tenant takes only small photos
    out = Move(sb).run(tmp_path / "l.sqlite", folders=False)  # and the mailbox folders were never made
    failed = {r["name"]: r["error"] for r in out["photo"].rows if r["action"] == "failed"}
    assert set(failed) == {"megan.bowen@contoso.example", "alex.wilber@contoso.example"}
    assert "refused" in failed["alex.wilber@contoso.example"] and "HINT: save a smaller" in failed["alex.wilber@contoso.example"]
    rules = {r["name"]: r for r in out["inbox-rule"].rows}
    moved = rules["megan.bowen@contoso.example: Newsletters to their folder"]
    assert moved["action"] == "failed" and "Newsletters, which is not in" in moved["error"]
    assert rules["megan.bowen@contoso.example: Sales leads to Alex"]["action"] == "created"  # the rest goes on
    assert out["mailbox-settings"].tally() == {"updated": 1, "adopted": 2}


@pytest.mark.parametrize("address,how", [("alex.wilber@contoso.example", "mapped"),
                                         ("ALEX.WILBER@contoso.onmicrosoft.com", "mapped"),
                                         ("someone@fabrikam.example", OUTSIDE),
                                         ("left.behind@contoso.example", "not moving")])
def test_addresses_are_rewritten_through_the_mapping(sandbox: Sandbox, address: str, how: str) -> None:
    src = inventory.collect(make_client(sandbox, "source")[1])
    moving = pd.DataFrame([{"source_upn": "alex.wilber@contoso.example", "target_upn": "alex@new.example"}])
    new, found = Addresses(moving, src).rewrite(address)
    assert found == how
    assert new == ("alex@new.example" if how == "mapped" else address)


def test_aliases_and_the_old_address_are_a_script_that_reads_the_old_tenant_and_is_read_back(
        fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    """The script reads each old mailbox's LegacyExchangeDN in the old tenant and adds it as X500 with the aliases;
    the rerun reads the aliases back; an alias in a domain the new tenant lacks is named and not carried. (The
    custom domain moves in phases 20 and 30, which the cutover story runs; here the aliases are in a domain the new
    tenant has from the start.)"""
    from tenantmove.sandbox.exchange import legacy_dn
    from tenantmove.workloads.mailaddresses import MailAddresses, accepted_domains

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    licensed_users(new)
    move = Move(sb)
    src = inventory.collect(old, people=True)
    people = src.raw["people"]
    people["megan.bowen@contoso.example"]["addresses"] = [
        "SMTP:megan.bowen@contoso.example", f"smtp:m.bowen@{NEW}", f"smtp:marketing.lead@{NEW}",
        "smtp:megan.bowen@contoso.onmicrosoft.com"]
    people["alex.wilber@contoso.example"]["addresses"] = ["SMTP:alex.wilber@contoso.example",
                                                          "smtp:alex@fabrikam.example"]
    addresses = MailAddresses(new, move.owners, src, accepted_domains(new), NEW)
    with Ledger(tmp_path / "l.sqlite", "r") as led:
        out = run_keeping(Engine(led, "60_mailboxes", folder=tmp_path / "p", workers=2), addresses)
    assert out.tally() == {"manual": 3}
    script = out.script
    assert script is not None
    text = script.read_text()
    assert text.index("Connect-ExchangeOnline -Organization 'contoso.onmicrosoft.com'") < \
        text.index(f"Connect-ExchangeOnline -Organization '{NEW}'")
    assert f"'smtp:m.bowen@{NEW}','smtp:marketing.lead@{NEW}',\"X500:$old" in text
    assert "not carried: alex@fabrikam.example" in text
    done = sb.admin("POST", f"powershell/{NEW}", data=script.read_bytes())["done"]
    assert len(done) == 5  # two connections, three mailboxes
    held = new.get(f"users/{new_upn('megan.bowen')}", {"$select": "proxyAddresses"})["proxyAddresses"]
    megan = old.get("users/megan.bowen@contoso.example", {"$select": "id,mailNickname"})
    assert f"X500:{legacy_dn(megan)}" in held and f"smtp:marketing.lead@{NEW}" in held
    with Ledger(tmp_path / "l.sqlite", "again") as led:
        again = run_keeping(Engine(led, "60_mailboxes", folder=tmp_path / "q", workers=2), addresses)
    assert again.tally() == {"adopted": 3}  # read back: every alias and an X500 address on each
    assert workload_check("addresses", addresses).problems.empty
    # run twice, the script adds nothing twice
    assert sb.admin("POST", f"powershell/{NEW}", data=script.read_bytes())["done"][2].endswith(
        "added nothing (there already)")


def test_shared_room_and_equipment_mailboxes_are_a_script_read_back_by_kind_and_place(fresh_sandbox: Sandbox,
                                                                                       tmp_path: Path) -> None:
    """Phase 00 tells the reception (shared), the boardroom (room) and the projector (equipment) from people's
    mailboxes and reads the room's place; the mapping says so; phase 30's script makes them (the room with its
    place, both resources with the booking rules read from the old mailboxes); the rerun reads them back; a place
    changed behind the runbook's back is named; then phase 60 adds them to their groups (a distribution list by
    script)."""
    from tenantmove.workloads.mapping import generate, resources
    from tenantmove.workloads.resourcemailboxes import ResourceMailboxes, rooms

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    src = inventory.collect(old, people=True)
    rows = resources(generate(src, "contoso.example", NEW))
    assert dict(zip(rows["source_upn"], rows["action"], strict=True)) == {
        "shared.reception@contoso.example": "shared", "boardroom@contoso.example": "room",
        "projector@contoso.example": "equipment"}
    rows = rows.assign(target_upn=[f"{u.split('@')[0]}@{NEW}" for u in rows["source_upn"]])  # no custom domain here
    boxes = ResourceMailboxes(new, rows, src, NEW)
    with Ledger(tmp_path / "l.sqlite", "r") as led:
        out = run_keeping(Engine(led, "60_mailboxes", folder=tmp_path / "p"), boxes)
    assert out.tally() == {"manual": 3}
    assert out.script is not None
    text = out.script.read_text()
    assert "New-Mailbox -Room -Name 'Boardroom'" in text and "-Capacity 12 -Building 'Keizersgracht 100' -Floor 4" in text
    assert text.index("Get-CalendarProcessing") < text.index(f"Connect-ExchangeOnline -Organization '{NEW}'")
    done = sb.admin("POST", f"powershell/{NEW}", data=out.script.read_bytes())["done"]
    assert any("created the shared mailbox shared.reception@" in d for d in done)
    room = rooms(new)[f"boardroom@{NEW}"]
    assert (room["capacity"], room["floorNumber"], room["isWheelChairAccessible"]) == (12, 4, True)
    with Ledger(tmp_path / "l.sqlite", "again") as led:
        again = run_keeping(Engine(led, "60_mailboxes", folder=tmp_path / "q"), boxes)
    assert again.tally() == {"adopted": 3}
    assert workload_check("resource mailboxes", boxes).problems.empty
    sb.admin("POST", f"powershell/{NEW}", data=f"Set-Place -Identity 'boardroom@{NEW}' -Capacity 8".encode())
    found = workload_check("resource mailboxes", boxes)
    assert list(found.problems["detail"]) == ["the room's capacity differs"]

    from tenantmove.workloads.resourcemailboxes import ResourceMemberships, groups_by_old_id

    sb.admin("POST", f"powershell/{NEW}", data=f"New-DistributionGroup -Name 'All staff' -Alias 'allstaff' "
             f"-PrimarySmtpAddress 'allstaff@{NEW}'".encode())
    members = ResourceMemberships(new, src, rows, groups_by_old_id(src, inventory.collect(new)))
    with Ledger(tmp_path / "l.sqlite", "members") as led:
        joined = run_keeping(Engine(led, "60_mailboxes", folder=tmp_path / "m"), members)
    kinds = {r["name"].split(":")[0]: r["action"] for r in joined.rows}
    assert kinds["All staff"] == "manual"  # a distribution list: Exchange's, by script
    assert joined.script is not None and "Add-DistributionGroupMember -Identity 'allstaff@" in joined.script.read_text()
    sb.admin("POST", f"powershell/{NEW}", data=joined.script.read_bytes())
    assert workload_check("resource memberships", members).problems.empty


def test_who_may_act_for_whom_is_exported_read_only_granted_by_script_and_read_back(fresh_sandbox: Sandbox,
                                                                                     tmp_path: Path) -> None:
    """No Graph API shows FullAccess, Send As or Send on Behalf: the old tenant's rights come from a read-only
    export, are granted to the mapped people by one script (every delegate of a mailbox in one Set-Mailbox) that
    then exports the new tenant's, and the next run reads them back; a right removed behind the runbook's back is
    named once exported again."""
    from tenantmove.workloads.mailboxrights import MailboxRights

    sb = fresh_sandbox
    old, new = make_client(sb, "source")[1], make_client(sb, "target")[1]
    licensed_users(new)
    reception = "shared.reception@contoso.example"
    sb.admin("POST", f"powershell/{NEW}", data=f"New-Mailbox -Shared -Name 'Reception' -PrimarySmtpAddress "
             f"'reception@{NEW}'".encode())
    src = inventory.collect(old, people=True)
    nicks = ("megan.bowen", "alex.wilber", "bianca.vance")
    moving = pd.DataFrame([{"source_upn": f"{n}@contoso.example", "target_upn": new_upn(n)} for n in nicks]
                          + [{"source_upn": reception, "target_upn": f"reception@{NEW}"}])
    ids = dict(zip(src.users["userPrincipalName"].str.lower(), src.users["id"], strict=True))
    boxes = [(ids[s.lower()], s, t) for s, t in zip(moving["source_upn"], moving["target_upn"], strict=True)]
    folder = tmp_path / "readback"
    rights = MailboxRights(folder, src.initial_domain, NEW, Addresses(moving, src), boxes)

    def run(run_id: str) -> Outcome:
        with Ledger(tmp_path / "l.sqlite", run_id) as led:
            return run_keeping(Engine(led, "60_mailboxes", folder=tmp_path / run_id), rights)

    first = run("first")  # nothing exported yet: the read-only export is the one item
    assert [r["key"] for r in first.rows] == ["old-export"] and first.tally() == {"manual": 1}
    assert first.script is not None
    sb.admin("POST", f"powershell/{NEW}", data=first.script.read_bytes())  # the script connects to the old tenant
    assert (folder / "old-full-access.csv").is_file()
    second = run("second")
    granted = {r["name"] for r in second.rows if r["action"] == "manual"}
    assert granted == {f"reception@{NEW}: FullAccess for megan.bowen@contoso.example",
                       f"reception@{NEW}: FullAccess for bianca.vance@contoso.example",
                       f"reception@{NEW}: SendAs for megan.bowen@contoso.example",
                       f"{new_upn('megan.bowen')}: SendOnBehalf for bianca.vance@contoso.example"}
    assert second.script is not None
    text = second.script.read_text()
    assert f"Add-MailboxPermission -Identity 'reception@{NEW}' -User '{new_upn('bianca.vance')}' -AccessRights " \
           "FullAccess -AutoMapping $true" in text
    assert text.index("Add-RecipientPermission") < text.index("Get-MailboxPermission")  # grants, then the export
    sb.admin("POST", f"powershell/{NEW}", data=second.script.read_bytes())
    third = run("third")
    assert second.tally() == {"adopted": 1, "manual": 4}  # the old export read back; the grants for the admin
    assert third.tally() == {"done before": 1, "adopted": 4}  # every right read back from the new export
    assert workload_check("mailbox rights", rights).problems.empty
    # behind the runbook's back: Bianca's FullAccess removed, the export run again
    sb.admin("POST", f"powershell/{NEW}", data=(f"Remove-MailboxPermission -Identity 'reception@{NEW}' -User "
                                                f"'{new_upn('bianca.vance')}' -AccessRights FullAccess").encode())
    again = "\n".join(line for line in second.script.read_text().splitlines()
                      if line.startswith(("Connect-", "Get-")))
    sb.admin("POST", f"powershell/{NEW}", data=again.encode())
    found = workload_check("mailbox rights", rights)
    assert list(found.problems["detail"]) == [f"{new_upn('bianca.vance')} has no FullAccess on reception@{NEW}"]
    assert rights.old_export_step().commands[0] == f"Connect-ExchangeOnline -Organization '{src.initial_domain}'"


def test_the_plan_counts_what_of_each_person_moves_by_each_kinds_key() -> None:
    """A right is keyed right/mailbox/person and a membership by ids: each is counted for the mailbox it is on."""
    from tenantmove.engine import Outcome
    from tenantmove.phases.mailboxes import people_counts

    def outcome(kind: str, rows: list[tuple[str, str]]) -> Outcome:
        return Outcome(kind, kind, True, rows=[{"key": k, "name": n, "action": "to do", "target_id": None,
                                                "error": None} for k, n in rows])

    counts = people_counts([
        outcome("photo", [("megan.bowen@contoso.example", "megan.bowen@contoso.example")]),
        outcome("inbox-rule", [("megan.bowen@contoso.example/AQ1", "megan.bowen@contoso.example: a"),
                               ("megan.bowen@contoso.example/AQ2", "megan.bowen@contoso.example: b")]),
        outcome("mailbox-right", [("old-export", "the old tenant's mailbox rights"),
                                  ("FullAccess/shared.reception@contoso.example/megan.bowen@contoso.example", "x"),
                                  ("SendAs/shared.reception@contoso.example/megan.bowen@contoso.example", "y")]),
        outcome("resource-member", [("g1/u9", "All staff: shared.reception@contoso.example")])])
    assert counts[("megan.bowen@contoso.example", "photo")] == 1
    assert counts[("megan.bowen@contoso.example", "inbox rules")] == 2
    assert counts[("shared.reception@contoso.example", "rights held on it")] == 2
    assert counts[("megan.bowen@contoso.example", "rights held on it")] == 0  # a holder, not the mailbox
    assert counts[("shared.reception@contoso.example", "memberships (shared, room)")] == 1
