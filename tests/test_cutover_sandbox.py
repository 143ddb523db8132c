"""The whole identity cutover through the workloads and the engine, against the sandbox: release the
domain from the old tenant, add it to the new one with its users and groups; rerun changes nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tenantmove.engine import Engine, ItemsFailed, Ledger
from tenantmove.sandbox import Sandbox
from tenantmove.services.dnsops import Nameservers, RecordPlan, Rfc2136Provider, load_tsig, record
from tenantmove.workloads import domain as domains
from tenantmove.workloads import inventory, mapping
from tenantmove.workloads.distribution import DistributionLists
from tenantmove.workloads.dnsrecords import DnsRecords, records_to_remove, spf_change
from tenantmove.workloads.groups import Groups, Members
from tenantmove.workloads.passwords import PasswordVault
from tenantmove.workloads.renames import UserRenames, rename_plan
from tenantmove.workloads.users import Users, prestage_upn

from .conftest import make_client

DOMAIN, NEW_INITIAL, OLD_INITIAL = "contoso.example", "contosonew.onmicrosoft.com", "contoso.onmicrosoft.com"


class Gate:
    def require(self) -> None:
        return None


def test_cutover_end_to_end_and_rerun(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    dns = fresh_sandbox.endpoints["dns"]
    ns = Nameservers([(dns["host"], dns["port"])])
    provider = Rfc2136Provider(dns["host"], dns["port"], DOMAIN, load_tsig(key_file=dns["tsig_file"]))
    src, tgt = inventory.collect(old), inventory.collect(new)
    path = mapping.write(mapping.generate(src, DOMAIN, NEW_INITIAL), tmp_path / "users.csv")
    moving = mapping.validate(mapping.read(path), str(path), src, DOMAIN, NEW_INITIAL, tgt.licences)
    ledger = Ledger(tmp_path / "ledger.sqlite", run_id="r1")
    vault = PasswordVault(tmp_path / "passwords.csv", Fernet(Fernet.generate_key()))
    gate = Gate()

    def run(phase: str, workload: object) -> object:
        return Engine(ledger, phase, folder=tmp_path / phase).run(workload, dry_run=False, gate=gate)

    # phase 10: pre-stage on the new onmicrosoft domain
    staged = run("10", Users(new, moving, src, tgt, vault, licences=False, kind="prestage-user",
                             upn_for=lambda r: prestage_upn(r["target_upn"], NEW_INITIAL)))
    assert staged.count("created") == len(moving) - 1 and staged.count("adopted") == 1  # the new tenant's admin

    # phase 20: rename users, remove DNS records, delete the domain
    plan = rename_plan(domains.domain_references(old, DOMAIN), DOMAIN, OLD_INITIAL)
    assert run("20", UserRenames(old, plan)).count("renamed") == (plan["type"] == "user").sum()
    codes = {r.value for r in domains.verification_records(old, DOMAIN)}
    provider.apply(RecordPlan(add=[record(DOMAIN, "MX", "10 mx1.filter.example")]))  # a mail filter in front
    gone, table = records_to_remove(ns, DOMAIN, codes)
    assert set(table["type"]) == {"MX", "CNAME", "TXT", "SRV"} and len(gone) == 7
    assert [v for v in table["value"] if v.startswith("MS=")] == sorted(codes)  # the old tenant's verification
    kept = table[table["action"] != "remove"]
    assert set(zip(kept["name"], kept["type"], strict=True)) == {(DOMAIN, "MX"), (f"www.{DOMAIN}", "CNAME"),
                                                                 (DOMAIN, "TXT")}  # the filter, the web host, SPF
    assert "repoint" in kept[kept["type"] == "MX"].iloc[0]["note"]
    spf_before = {v for v in ns.values(DOMAIN, "TXT")[0] if v.startswith("v=spf1")}
    removed = run("20", DnsRecords(ns, provider, absent=gone, wait_seconds=5, poll_seconds=0.1, destructive=True))
    assert removed.count("removed") == 7 and not records_to_remove(ns, DOMAIN, codes)[0]
    assert ns.values(DOMAIN, "MX") == [{"10 mx1.filter.example"}] and ns.values(f"www.{DOMAIN}", "CNAME")[0]
    assert {v for v in ns.values(DOMAIN, "TXT")[0] if v.startswith("v=spf1")} == spf_before  # SPF untouched
    assert domains.delete_domain(old, DOMAIN, OLD_INITIAL, 10).startswith("force-deleted")

    # phase 30: add, publish TXT, verify, service records, users, groups, distribution lists, members
    assert domains.add_domain(new, DOMAIN) == "added"
    run("30", DnsRecords(ns, provider, present=domains.verification_records(new, DOMAIN), wait_seconds=5,
                         poll_seconds=0.1))
    assert domains.verify_domain(new, DOMAIN) == "verified"
    services = domains.service_records(new, DOMAIN, ["Email", "OfficeCommunicationsOnline"])
    services, replaced, what = spf_change(ns, DOMAIN, services)
    assert not replaced and "left as it is" in what  # one SPF record, never a second
    run("30", DnsRecords(ns, provider, present=services, wait_seconds=5, poll_seconds=0.1))
    assert ns.values(DOMAIN, "MX") == [{"0 contoso-example.mail.protection.outlook.com", "10 mx1.filter.example"}]
    assert {v for v in ns.values(DOMAIN, "TXT")[0] if v.startswith("v=spf1")} == spf_before
    users = run("30", Users(new, moving, src, tgt, vault, upn_for=lambda r: r["target_upn"],
                            also_look_for=lambda r: [prestage_upn(r["target_upn"], NEW_INITIAL)]))
    assert users.count("renamed") == len(moving) - 1 and users.count("created") == 0 and not users.failed
    megan = new.get("users/megan.bowen@contoso.example", {"$select": "id,usageLocation,assignedLicenses"})
    assert megan["usageLocation"] == "NL" and megan["assignedLicenses"]
    groups = run("30", Groups(new, src))
    assert set(groups.counts()) == {"created"} and len(groups.rows) == (src.groups["kind"] != "distribution").sum()
    lists = run("30", DistributionLists(new, src, moving, DOMAIN, NEW_INITIAL))
    assert lists.counts() == {"manual": 1} and lists.script is not None
    members = run("30", Members(new, src, groups.targets(), users.targets()))
    assert members.count("added") > 0 and not members.failed

    # passwords: only in the owner-only file
    assert stat.S_IMODE((tmp_path / "passwords.csv").stat().st_mode) == 0o600
    assert vault.count == len(moving) - 1

    # a rerun changes nothing and says so
    before = new.get_all("users", {"$select": "id", "$top": "999"})
    again = run("30", Users(new, moving, src, tgt, vault, upn_for=lambda r: r["target_upn"]))
    assert again.counts() == {"done before": len(moving)} and again.changed == 0
    assert run("30", Members(new, src, groups.targets(), again.targets())).changed == 0
    assert domains.add_domain(new, DOMAIN) == "verified already"
    assert domains.delete_domain(old, DOMAIN, OLD_INITIAL, 1) == "already deleted"
    assert run("30", DnsRecords(ns, provider, present=services, wait_seconds=1, poll_seconds=0.1)).changed == 0
    assert len(new.get_all("users", {"$select": "id", "$top": "999"})) == len(before)
    ledger.close()


def test_a_user_created_but_not_recorded_is_adopted_not_duplicated(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    src, tgt = inventory.collect(old), inventory.collect(new)
    moving = mapping.generate(src, DOMAIN, NEW_INITIAL).head(3)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    vault = PasswordVault(tmp_path / "passwords.csv", Fernet(Fernet.generate_key()))
    upn = prestage_upn(moving.iloc[1]["target_upn"], NEW_INITIAL)
    # as if a killed run had created this user and died before the ledger heard of it
    new.post("users", {"accountEnabled": True, "displayName": "x", "mailNickname": upn.split("@")[0],
                       "userPrincipalName": upn, "passwordProfile": {"password": "Sandbox-Passw0rd!"}})
    result = Engine(ledger, "10").run(Users(new, moving, src, tgt, vault, licences=False, kind="prestage-user",
                                            upn_for=lambda r: prestage_upn(r["target_upn"], NEW_INITIAL)),
                                      dry_run=False)
    assert result.count("adopted") >= 1
    assert len(new.get_all("users", {"$filter": f"userPrincipalName eq '{upn}'"})) == 1
    ledger.close()


def test_a_group_that_cannot_be_created_fails_the_run(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    src = inventory.collect(old)
    fresh_sandbox.admin("PATCH", "apps/6c5b4a3f-2e1d-4c0b-9a8f-7e6d5c4b3a02", json={"roles": ["Group.Read.All"]})
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        with pytest.raises(ItemsFailed) as failed:
            Engine(ledger, "30").run(Groups(new, src), dry_run=False)
        assert "groups failed" in failed.value.message and "rerun 30" in failed.value.hint
        assert "Authorization_RequestDenied" in failed.value.message
        assert {i.state for i in ledger.items("group")} == {"failed"}


def test_distribution_lists_are_marked_done_once_the_admin_ran_the_script(fresh_sandbox: Sandbox,
                                                                         tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    src, tgt = inventory.collect(old, people=True), inventory.collect(new)  # people: which mailboxes are rooms
    moving = mapping.generate(src, DOMAIN, NEW_INITIAL)
    moving = moving[moving["action"] == "move"].reset_index(drop=True)  # guests are invited, rooms made by script
    moving = moving.assign(target_upn=[prestage_upn(u, NEW_INITIAL) for u in moving["target_upn"]])  # no domain yet
    left_behind, moving = moving.iloc[-1]["source_upn"], moving.iloc[:-1]  # one user the mapping does not move
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        engine = Engine(ledger, "30", folder=tmp_path / "30")
        engine.run(Users(new, moving, src, tgt, PasswordVault(tmp_path / "p.csv", Fernet(Fernet.generate_key())), upn_for=lambda r: r["target_upn"]),
                   dry_run=False)
        # the custom domain stays behind in this migration: the list's address lands on the onmicrosoft domain
        later = mapping.resources(mapping.generate(src, DOMAIN, NEW_INITIAL))
        lists = DistributionLists(new, src, moving, "staying.example", NEW_INITIAL, later=later)
        first = engine.run(lists, dry_run=False)
        assert first.counts() == {"manual": 1} and {i.state for i in ledger.items(lists.kind)} == {"manual"}
        script = first.script.read_text()
        assert f"New-DistributionGroup -Name 'All staff' -Alias 'allstaff' -PrimarySmtpAddress 'allstaff@{NEW_INITIAL}'" \
            in script
        assert script.count("\nAdd-DistributionGroupMember") == len(moving)  # the reception after phase 60
        assert f"# not added (not moved by the user mapping): {left_behind}\n" in script
        assert "# shared.reception@contoso.example is added by phase 60" in script
        # the admin runs the script in Exchange Online PowerShell (the sandbox's stand-in runs it for real)
        fresh_sandbox.admin("POST", "exchange/contosonew.onmicrosoft.com", data=script.encode())
        second = engine.run(lists, dry_run=False)
        assert second.counts() == {"created by the admin": 1} and second.script is None
        assert {i.state for i in ledger.items(lists.kind)} == {"done"}
