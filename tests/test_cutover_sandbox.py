"""The whole identity cutover through the library, against the sandbox: release the domain from
the old tenant, add it to the new one with its users and groups; rerun changes nothing."""

from __future__ import annotations

import stat
from pathlib import Path

from tenantmove import identity, inventory, mapping
from tenantmove.dnsops import Nameservers, Rfc2136Provider, load_tsig
from tenantmove.ledger import Ledger
from tenantmove.sandbox import Sandbox

from .conftest import make_client

DOMAIN, NEW_INITIAL, OLD_INITIAL = "contoso.example", "contosonew.onmicrosoft.com", "contoso.onmicrosoft.com"




def test_cutover_end_to_end_and_rerun(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    ns = Nameservers([(fresh_sandbox.endpoints["dns"]["host"], fresh_sandbox.endpoints["dns"]["port"])])
    provider = Rfc2136Provider(fresh_sandbox.endpoints["dns"]["host"], fresh_sandbox.endpoints["dns"]["port"], DOMAIN,
                               load_tsig(key_file=fresh_sandbox.endpoints["dns"]["tsig_file"]))
    src, tgt = inventory.collect(old), inventory.collect(new)
    path = mapping.write(mapping.generate(src, DOMAIN, NEW_INITIAL), tmp_path / "users.csv")
    moving = mapping.validate(mapping.read(path), str(path), src, DOMAIN, NEW_INITIAL, tgt.licences)
    ledger = Ledger(tmp_path / "ledger.sqlite", run_id="r1")
    vault = identity.PasswordVault(tmp_path / "passwords.csv")

    # phase 10: pre-stage on the new onmicrosoft domain
    staged = identity.ensure_users(new, ledger, "10", "prestage-user", moving, src, tgt, vault, licences=False,
                                   upn_for=lambda r: identity.prestage_upn(r["target_upn"], NEW_INITIAL))
    assert staged.created == len(moving) - 1 and staged.adopted == 1  # the new tenant's own admin exists

    # phase 20: rename users, remove DNS records, delete the domain
    refs = identity.domain_references(old, DOMAIN)
    plan = identity.rename_plan(refs, DOMAIN, OLD_INITIAL)
    assert identity.rename_users(old, ledger, "20", plan)["renamed"] == (plan["type"] == "user").sum()
    gone, table = identity.records_to_remove(ns, DOMAIN)
    assert set(table["type"]) == {"MX", "CNAME", "TXT", "SRV"} and len(gone) == 8
    dns_plan, left, _ = identity.publish(ns, provider, [], gone, 5, 0.1)
    assert left == [] and not identity.records_to_remove(ns, DOMAIN)[0]
    assert identity.delete_domain(old, DOMAIN, OLD_INITIAL, 10).startswith("force-deleted")

    # phase 30: add, publish TXT, verify, service records, users, groups, members
    assert identity.add_domain(new, DOMAIN) == "added"
    identity.publish(ns, provider, identity.verification_records(new, DOMAIN), [], 5, 0.1)
    assert identity.verify_domain(new, DOMAIN) == "verified"
    services = identity.service_records(new, DOMAIN, ["Email", "OfficeCommunicationsOnline"])
    _, left, _ = identity.publish(ns, provider, services, [], 5, 0.1)
    assert left == [] and ns.values(DOMAIN, "MX") == [{"0 contoso-example.mail.protection.outlook.com"}]
    users = identity.ensure_users(new, ledger, "30", "user", moving, src, tgt, vault, upn_for=lambda r: r["target_upn"],
                                  also_look_for=lambda r: [identity.prestage_upn(r["target_upn"], NEW_INITIAL)])
    assert users.renamed == len(moving) - 1 and users.created == 0 and not users.failed
    megan = new.get("users/megan.bowen@contoso.example", {"$select": "id,usageLocation,assignedLicenses"})
    assert megan["usageLocation"] == "NL" and megan["assignedLicenses"]
    groups = identity.ensure_groups(new, ledger, "30", src)
    assert set(groups["result"]) == {"created", "manual (Exchange admin centre)"}
    members = identity.ensure_members(new, ledger, "30", src)
    assert members["members added"] > 0 and members["failed"] == 0

    # passwords: only in the owner-only file
    assert stat.S_IMODE((tmp_path / "passwords.csv").stat().st_mode) == 0o600
    assert vault.count == len(moving) - 1

    # a rerun changes nothing and says so
    before = new.get_all("users", {"$select": "id", "$top": "999"})
    again = identity.ensure_users(new, ledger, "30", "user", moving, src, tgt, vault, upn_for=lambda r: r["target_upn"])
    assert again.skipped == len(moving) and again.created == again.renamed == 0
    assert identity.ensure_members(new, ledger, "30", src)["members added"] == 0
    assert identity.add_domain(new, DOMAIN) == "verified already"
    assert identity.delete_domain(old, DOMAIN, OLD_INITIAL, 1) == "already deleted"
    assert identity.publish(ns, provider, services, [], 1, 0.1)[0].empty
    assert len(new.get_all("users", {"$select": "id", "$top": "999"})) == len(before)
    ledger.close()


def test_a_user_created_but_not_recorded_is_adopted_not_duplicated(fresh_sandbox: Sandbox, tmp_path: Path) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    src, tgt = inventory.collect(old), inventory.collect(new)
    moving = mapping.generate(src, DOMAIN, NEW_INITIAL).head(3)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    vault = identity.PasswordVault(tmp_path / "passwords.csv")
    upn = identity.prestage_upn(moving.iloc[1]["target_upn"], NEW_INITIAL)
    # as if a killed run had created this user and died before the ledger heard of it
    new.post("users", {"accountEnabled": True, "displayName": "x", "mailNickname": upn.split("@")[0],
                       "userPrincipalName": upn, "passwordProfile": {"password": "Sandbox-Passw0rd!"}})
    result = identity.ensure_users(new, ledger, "10", "prestage-user", moving, src, tgt, vault, licences=False,
                                   upn_for=lambda r: identity.prestage_upn(r["target_upn"], NEW_INITIAL))
    assert result.adopted >= 1
    assert len(new.get_all("users", {"$filter": f"userPrincipalName eq '{upn}'"})) == 1
    ledger.close()
