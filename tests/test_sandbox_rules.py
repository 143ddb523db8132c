"""The sandbox holds the runbook to the service's rules (over real HTTPS and DNS)."""

from __future__ import annotations

import time

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.sandbox.mailboxrights import COLLECTION
from tenantmove.services.dnsops import Nameservers, RecordPlan, Rfc2136Provider, load_tsig, record
from tenantmove.services.graph import GraphClient, GraphError

from .conftest import make_client

E3 = "f245ecc8-75af-4f8e-b61f-27d8114de5b3"        # O365_BUSINESS_PREMIUM
EXCHANGE = "4b9405b0-7788-4568-add1-99614e613b69"  # EXCHANGESTANDARD
PASSWORD = {"password": "Sandbox-Passw0rd!", "forceChangePasswordNextSignIn": True}




def bad_request(call, *args, **kwargs) -> str:  # noqa: ANN001, ANN002, ANN003
    with pytest.raises(GraphError) as info:
        call(*args, **kwargs)
    assert info.value.status == 400, info.value
    return info.value.graph_message


def new_user(upn: str, **extra: object) -> dict:
    return {"accountEnabled": True, "displayName": upn.split("@")[0], "mailNickname": upn.split("@")[0],
            "userPrincipalName": upn, "passwordProfile": PASSWORD, **extra}


def test_users_need_a_verified_domain_and_a_unique_upn(fresh_sandbox: Sandbox) -> None:
    _, new = make_client(fresh_sandbox, "target")
    assert "verified domain" in bad_request(new.post, "users", new_user("megan@contoso.example"))
    created = new.post("users", new_user("megan@contosonew.onmicrosoft.com"))
    assert created["userPrincipalName"] == "megan@contosonew.onmicrosoft.com"
    assert "already exists" in bad_request(new.post, "users", new_user("Megan@contosonew.onmicrosoft.com"))
    found = new.get("users", {"$filter": "userPrincipalName eq 'megan@contosonew.onmicrosoft.com'"})["value"]
    assert [u["id"] for u in found] == [created["id"]]
    assert "password" in bad_request(new.post, "users", new_user("x@contosonew.onmicrosoft.com",
                                                                  passwordProfile={"password": "short"}))


def test_licences_need_a_usage_location_and_a_free_seat(fresh_sandbox: Sandbox) -> None:
    _, old = make_client(fresh_sandbox, "source")
    nobody = old.post("users", new_user("nolocation@contoso.example"))
    add = {"addLicenses": [{"skuId": E3, "disabledPlans": []}], "removeLicenses": []}
    assert "usage location" in bad_request(old.post, f"users/{nobody['id']}/assignLicense", add)
    old.patch(f"users/{nobody['id']}", {"usageLocation": "NL"})
    old.post(f"users/{nobody['id']}/assignLicense", add)
    skus = {s["skuId"]: s for s in old.get("subscribedSkus")["value"]}
    free = skus[EXCHANGE]["prepaidUnits"]["enabled"] - skus[EXCHANGE]["consumedUnits"]
    users = [u for u in old.get_all("users", {"$select": "id,assignedLicenses,usageLocation", "$top": "999"})
             if u["usageLocation"] and EXCHANGE not in {lic["skuId"] for lic in u["assignedLicenses"]}]
    grant = {"addLicenses": [{"skuId": EXCHANGE, "disabledPlans": []}], "removeLicenses": []}
    for user in users[:free]:
        old.post(f"users/{user['id']}/assignLicense", grant)
    assert "available licenses" in bad_request(old.post, f"users/{users[free]['id']}/assignLicense", grant)


def test_groups_and_members(fresh_sandbox: Sandbox) -> None:
    _, new = make_client(fresh_sandbox, "target")
    assert "Exchange" in bad_request(new.post, "groups", {"displayName": "DL", "mailEnabled": True,
                                                          "mailNickname": "dl", "securityEnabled": False})
    group = new.post("groups", {"displayName": "Sales", "mailEnabled": True, "mailNickname": "sales",
                                "securityEnabled": False, "groupTypes": ["Unified"]})
    assert group["mail"] == "sales@contosonew.onmicrosoft.com"
    admin = new.get("users/admin@contosonew.onmicrosoft.com")
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{admin['id']}"}
    new.request("POST", f"groups/{group['id']}/members/$ref", json=ref)
    assert "already exist" in bad_request(new.request, "POST", f"groups/{group['id']}/members/$ref", json=ref)
    assert [m["id"] for m in new.get_all(f"groups/{group['id']}/members")] == [admin["id"]]


def publish_verification_txt(sb: Sandbox, client: GraphClient) -> None:
    txt = next(r for r in client.get("domains/contoso.example/verificationDnsRecords")["value"]
               if r["recordType"] == "Txt")
    provider = Rfc2136Provider(sb.endpoints["dns"]["host"], sb.endpoints["dns"]["port"], "contoso.example",
                               load_tsig(key_file=sb.endpoints["dns"]["tsig_file"]))
    provider.apply(RecordPlan(add=[record("contoso.example", "TXT", txt["text"])]))


def test_the_domain_moves_only_by_the_rules(fresh_sandbox: Sandbox) -> None:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    fresh_sandbox.set_knobs(force_delete_seconds=0.3)
    # the new tenant may add the domain, but not verify it: no TXT record yet, and then the old tenant holds it
    assert new.post("domains", {"id": "contoso.example"})["isVerified"] is False
    assert "not found in the DNS" in bad_request(new.post, "domains/contoso.example/verify")
    publish_verification_txt(fresh_sandbox, new)
    assert "verified in another tenant" in bad_request(new.post, "domains/contoso.example/verify")
    # the old tenant cannot delete it while it is the default, nor while anything references it
    assert "default" in bad_request(old.delete, "domains/contoso.example")
    old.patch("domains/contoso.onmicrosoft.com", {"isDefault": True})
    refs = old.get_all("domains/contoso.example/domainNameReferences")
    assert {r["@odata.type"] for r in refs} == {"#microsoft.graph.user", "#microsoft.graph.group",
                                                 "#microsoft.graph.application"}
    assert f"referenced by {len(refs)}" in bad_request(old.delete, "domains/contoso.example")
    # forceDelete refuses a multitenant application ...
    intranet = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c03"
    fresh_sandbox.admin("PATCH", f"apps/{intranet}", json={"multitenant": True})
    assert "multitenant" in bad_request(old.post, "domains/contoso.example/forceDelete", {"disableUserAccounts": False})
    fresh_sandbox.admin("PATCH", f"apps/{intranet}", json={"multitenant": False})
    # ... and then renames every reference to the initial domain, asynchronously
    old.request("POST", "domains/contoso.example/forceDelete", json={"disableUserAccounts": False})
    assert old.get("domains/contoso.example")["state"]["status"] == "InProgress"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(d["id"] == "contoso.example" for d in old.get("domains")["value"]):
        time.sleep(0.1)
    assert not any(d["id"] == "contoso.example" for d in old.get("domains")["value"])
    megan = old.get("users/megan.bowen@contoso.onmicrosoft.com", {"$select": "userPrincipalName,mail,proxyAddresses"})
    assert megan["mail"] == "megan.bowen@contoso.onmicrosoft.com"
    assert not [p for p in megan["proxyAddresses"] if p.lower().endswith("@contoso.example")]
    assert old.get_all("groups", {"$filter": "mail eq 'sales@contoso.onmicrosoft.com'"})
    # now the new tenant can verify it
    assert new.post("domains/contoso.example/verify")["isVerified"] is True
    new.patch("domains/contoso.example", {"supportedServices": ["Email", "OfficeCommunicationsOnline"]})
    records = new.get("domains/contoso.example/serviceConfigurationRecords")["value"]
    assert {r["recordType"] for r in records} == {"Mx", "Cname", "Txt", "Srv"}
    assert new.post("users", new_user("megan.bowen@contoso.example"))["userPrincipalName"] == "megan.bowen@contoso.example"


@pytest.mark.waits
def test_force_delete_refuses_more_than_1000_objects(fresh_sandbox: Sandbox) -> None:
    fresh_sandbox.admin("POST", "reset", json={"scale": 51})  # 1,020 generated users on the custom domain
    _, old = make_client(fresh_sandbox, "source")
    old.patch("domains/contoso.onmicrosoft.com", {"isDefault": True})
    assert "at most 1000" in bad_request(old.post, "domains/contoso.example/forceDelete", {"disableUserAccounts": False})
    assert any(d["id"] == "contoso.example" for d in old.get("domains")["value"])  # nothing changed


def test_dns_reset_restores_the_seed(fresh_sandbox: Sandbox) -> None:
    _, new = make_client(fresh_sandbox, "target")
    new.post("domains", {"id": "contoso.example"})
    publish_verification_txt(fresh_sandbox, new)
    fresh_sandbox.admin("POST", "reset", json={"scale": 1})
    ns = Nameservers([(fresh_sandbox.endpoints["dns"]["host"], fresh_sandbox.endpoints["dns"]["port"])])
    assert len(ns.values("contoso.example", "TXT")[0]) == 2  # the old tenant's MS= and SPF only


def test_a_persons_attributes_and_manager_are_read_and_written_as_graph_does(fresh_sandbox: Sandbox) -> None:
    """The old tenant's org chart is three levels deep; every attribute Graph lets an app write is selectable and
    writable (and nothing else is); the manager is a reference: PUT and DELETE ``manager/$ref``, read back from
    ``manager`` and ``directReports``."""
    from tenantmove.graphperson import PERSON_ATTRIBUTES

    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    megan = old.get("users/megan.bowen@contoso.example", {"$select": ",".join(["id", *PERSON_ATTRIBUTES])})
    assert megan["employeeId"] == "E1001" and megan["city"] == "Amsterdam" and megan["companyName"] == "Contoso Ltd"
    alex = old.get("users/alex.wilber@contoso.example/manager")
    assert alex["id"] == megan["id"] and alex["@odata.type"] == "#microsoft.graph.user"
    reports = {u["userPrincipalName"] for u in old.get_all("users/alex.wilber@contoso.example/directReports")}
    assert reports and all(old.get(f"users/{u}", {"$select": "department"})["department"] == "Sales" for u in reports)
    with pytest.raises(GraphError) as top:
        old.get("users/megan.bowen@contoso.example/manager", expected=(404,))
    assert top.value.status == 404

    boss = new.post("users", new_user("boss@contosonew.onmicrosoft.com"))
    person = new.post("users", new_user("person@contosonew.onmicrosoft.com"))
    values = {"jobTitle": "Analyst", "department": "Finance", "companyName": "Contoso Ltd", "officeLocation": "HQ",
              "businessPhones": ["+31 20 123 4567"], "mobilePhone": "+31 6 1234 5678", "employeeId": "E9",
              "employeeType": "Contractor", "employeeHireDate": "2020-01-06T00:00:00Z", "streetAddress": "Dam 1",
              "city": "Amsterdam", "state": "NH", "postalCode": "1012 JS", "country": "NL", "preferredLanguage": "nl-NL",
              "ageGroup": "NotAdult", "consentProvidedForMinor": "Granted"}
    assert set(values) == set(PERSON_ATTRIBUTES)
    new.patch(f"users/{person['id']}", values)
    back = new.get(f"users/{person['id']}", {"$select": ",".join(PERSON_ATTRIBUTES)})
    assert {k: back[k] for k in values} == values
    assert "read-only" in bad_request(new.patch, f"users/{person['id']}", {"createdDateTime": "2020-01-01T00:00:00Z"})
    new.request("PUT", f"users/{person['id']}/manager/$ref", json={"@odata.id": f"{new.base_url}/users/{boss['id']}"})
    assert new.get(f"users/{person['id']}/manager")["id"] == boss["id"]
    assert [u["id"] for u in new.get_all(f"users/{boss['id']}/directReports")] == [person["id"]]
    assert "own manager" in bad_request(new.request, "PUT", f"users/{person['id']}/manager/$ref",
                                        json={"@odata.id": f"{new.base_url}/users/{person['id']}"})
    new.request("DELETE", f"users/{person['id']}/manager/$ref")
    with pytest.raises(GraphError) as gone:
        new.get(f"users/{person['id']}/manager", expected=(404,))
    assert gone.value.status == 404


def test_what_a_person_has_beside_the_account_follows_graphs_rules(fresh_sandbox: Sandbox) -> None:
    """Photos (JPEG or PNG, at most the size a request may carry), owners (no owner twice), plans turned off (only the
    licence's own), calendar permissions (one per person; a delegate is someone with a mailbox), rules (their folder
    is one of the mailbox's), invitations (never to the organisation's own domain), mailbox settings (only theirs)."""
    old, new = make_client(fresh_sandbox, "source")[1], make_client(fresh_sandbox, "target")[1]
    megan = "megan.bowen@contoso.example"
    assert old.request("GET", f"users/{megan}/photo/$value").content[:2] == b"\xff\xd8"
    assert old.get(f"users/{megan}/photo")["@odata.mediaContentType"] == "image/jpeg"
    assert "not a JPEG or PNG" in bad_request(old.request, "PUT", f"users/{megan}/photo/$value", data=b"GIF89a",
                                              headers={"Content-Type": "image/gif"})
    with pytest.raises(GraphError) as info:
        old.request("GET", "users/admin@contoso.onmicrosoft.com/photo/$value")
    assert info.value.status == 404
    sales = old.get("groups", {"$filter": "mailNickname eq 'sales'"})["value"][0]["id"]
    assert {o["userPrincipalName"] for o in old.get(f"groups/{sales}/owners")["value"]} == \
        {megan, "alex.wilber@contoso.example"}
    me = old.get(f"users/{megan}")["id"]
    assert "already exist" in bad_request(old.request, "POST", f"groups/{sales}/owners/$ref",
                                          json={"@odata.id": f"https://graph.microsoft.com/v1.0/users/{me}"})
    alex = old.get("users/alex.wilber@contoso.example", {"$select": "assignedLicenses"})["assignedLicenses"]
    assert alex[0]["disabledPlans"] == ["57ff2da0-773e-42df-b2af-ffb7a2317929"]  # TEAMS1, by the seed's word
    assert "not part of the license" in bad_request(
        old.post, f"users/{megan}/assignLicense",
        {"addLicenses": [{"skuId": E3, "disabledPlans": [EXCHANGE]}], "removeLicenses": []})
    with pytest.raises(GraphError) as info:  # the old tenant's app reads calendars only
        old.post(f"users/{megan}/calendar/calendarPermissions", {"emailAddress": {"address": megan}, "role": "read"})
    assert info.value.status == 403
    for nick in ("pat", "lee"):  # two people with mailboxes in the new tenant
        made = new.post("users", new_user(f"{nick}@contosonew.onmicrosoft.com", usageLocation="NL"))
        new.post(f"users/{made['id']}/assignLicense", {"addLicenses": [{"skuId": E3}], "removeLicenses": []})
    perms = "users/pat@contosonew.onmicrosoft.com/calendar/calendarPermissions"
    new.post(perms, {"emailAddress": {"address": "lee@contosonew.onmicrosoft.com"}, "role": "read"})
    with pytest.raises(GraphError) as info:
        new.post(perms, {"emailAddress": {"address": "lee@contosonew.onmicrosoft.com"}, "role": "write"})
    assert info.value.status == 409  # one permission per person: change its role instead
    assert "Only a person inside" in bad_request(
        new.post, perms, {"emailAddress": {"address": "x@fabrikam.example"}, "role": "delegateWithPrivateEventAccess"})
    assert "couldn't be found" in bad_request(
        new.post, perms, {"emailAddress": {"address": "nobody@contosonew.onmicrosoft.com"}, "role": "read"})
    org = next(p for p in new.get(perms)["value"] if not p["isRemovable"])
    assert org["emailAddress"]["name"] == "My Organization" and org["role"] == "freeBusyRead"
    rules = "users/pat@contosonew.onmicrosoft.com/mailFolders/inbox/messageRules"
    assert "not a folder of this mailbox" in bad_request(
        new.post, rules, {"displayName": "x", "sequence": 9, "actions": {"moveToFolder": "AAMkNotAFolder"}})
    assert "cannot be set" in bad_request(new.patch, "users/pat@contosonew.onmicrosoft.com/mailboxSettings",
                                          {"userPurpose": "shared"})
    assert "not a guest" in bad_request(new.post, "invitations", {"invitedUserEmailAddress": "x@contosonew.onmicrosoft.com",
                                                                  "inviteRedirectUrl": "https://myapps.microsoft.com"})


def test_who_may_act_for_whom_is_exchanges_and_an_admins_read_only_script_exports_it(fresh_sandbox: Sandbox,
                                                                                       tmp_path) -> None:  # noqa: ANN001
    """FullAccess, Send As and Send on Behalf have no Graph API: the sandbox's Exchange PowerShell grants, removes
    and lists them, and a read-only script exports them to CSV (how the runbook will read them back)."""
    import csv

    sb = fresh_sandbox
    old_csv, new_csv = tmp_path / "old.csv", tmp_path / "new.csv"
    behalf = tmp_path / "behalf.csv"
    script = "\n".join([
        "Connect-ExchangeOnline -Organization 'contoso.onmicrosoft.com'",
        f"Get-MailboxPermission -Identity 'shared.reception@contoso.example' | Export-Csv -Path '{old_csv}' "
        "-NoTypeInformation",
        f"Get-RecipientPermission -Identity 'shared.reception@contoso.example' | Select-Object "
        "@{Name='Mailbox';Expression={'the reception'}},Trustee,@{Name='AccessRights';Expression={$_.AccessRights "
        f"-join ','}}}} | Export-Csv -Path '{tmp_path / 'sendas.csv'}' -NoTypeInformation",
        f"Get-Mailbox -Identity 'megan.bowen@contoso.example' | Select-Object Identity,GrantSendOnBehalfTo | "
        f"Export-Csv -Path '{tmp_path / 'raw.csv'}' -NoTypeInformation",
        "Get-Mailbox -Identity 'megan.bowen@contoso.example' | Select-Object -ExpandProperty GrantSendOnBehalfTo | "
        f"Get-Recipient | Select-Object Name,PrimarySmtpAddress | Export-Csv -Path '{behalf}' -NoTypeInformation"])
    done = sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=script.encode())["done"]
    assert done[1:] == [f"wrote 3 row(s) to {old_csv}", f"wrote 1 row(s) to {tmp_path / 'sendas.csv'}",
                        f"wrote 1 row(s) to {tmp_path / 'raw.csv'}", f"wrote 1 row(s) to {behalf}"]
    rows = list(csv.DictReader(old_csv.open()))
    # as Exchange: the mailbox by its name, not its address; a collection written as its type name, not its values
    assert {r["Identity"] for r in rows} == {"shared.reception"}
    assert [(r["User"], r["AccessRights"]) for r in rows] == [
        ("NT AUTHORITY\\SELF", COLLECTION), ("megan.bowen@contoso.example", COLLECTION),
        ("bianca.vance@contoso.example", COLLECTION)]
    assert [(r["Mailbox"], r["Trustee"], r["AccessRights"]) for r in csv.DictReader((tmp_path / "sendas.csv").open())] \
        == [("the reception", "megan.bowen@contoso.example", "SendAs")]
    assert list(csv.DictReader((tmp_path / "raw.csv").open()))[0]["GrantSendOnBehalfTo"] == COLLECTION
    assert [(r["Name"], r["PrimarySmtpAddress"]) for r in csv.DictReader(behalf.open())] == [
        ("bianca.vance", "bianca.vance@contoso.example")]
    with pytest.raises(Exception) as info:  # as PowerShell: rows without the file's columns are not appended
        sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=(
            f"Get-RecipientPermission -Identity 'shared.reception@contoso.example' | Export-Csv -Path '{old_csv}' "
            "-Append").encode())
    assert "have no property 'Deny'" in info.value.response.text
    with pytest.raises(Exception) as info:  # an expression the sandbox cannot evaluate is refused, never guessed
        sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=(
            "Get-Mailbox -Identity 'megan.bowen@contoso.example' | Select-Object @{Name='X';Expression={Get-Date}} | "
            f"Export-Csv -Path '{old_csv}'").encode())
    assert "evaluates 'text'" in info.value.response.text
    grant = "\n".join([
        "Add-MailboxPermission -Identity 'megan.bowen@contoso.example' -User 'alex.wilber@contoso.example' "
        "-AccessRights FullAccess -AutoMapping $false",
        "Add-RecipientPermission -Identity 'megan.bowen@contoso.example' -Trustee 'alex.wilber@contoso.example' "
        "-AccessRights SendAs -Confirm:$false",
        "Set-Mailbox -Identity 'alex.wilber@contoso.example' -GrantSendOnBehalfTo @{Add='megan.bowen@contoso.example'}",
        "Remove-MailboxPermission -Identity 'shared.reception@contoso.example' -User 'bianca.vance@contoso.example' "
        "-AccessRights FullAccess -Confirm:$false",
        f"Get-MailboxPermission -Identity 'shared.reception@contoso.example' | Export-Csv -Path '{new_csv}'"])
    done = sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=grant.encode())["done"]
    assert done[0] == "granted FullAccess on megan.bowen@contoso.example to alex.wilber@contoso.example"
    assert done[2] == "alex.wilber@contoso.example: Send on Behalf for megan.bowen@contoso.example"
    assert [r["User"] for r in csv.DictReader(new_csv.open())] == ["NT AUTHORITY\\SELF", "megan.bowen@contoso.example"]
    with pytest.raises(Exception) as info:  # a right that is not there cannot be removed
        sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=grant.splitlines()[3].encode())
    assert "has no FullAccess" in str(info.value.response.text)


def test_a_groups_delivery_settings_are_exchanges_set_and_exported_by_script(fresh_sandbox: Sandbox,
                                                                           tmp_path) -> None:  # noqa: ANN001
    """allowExternalSenders and autoSubscribeNewMembers need a delegated token in Graph: the sandbox's Exchange
    PowerShell shows them (Get-UnifiedGroup, the seed's Sales group open to outside senders) and sets them
    (Set-UnifiedGroup, a switch written -Switch:$false as PowerShell requires)."""
    import csv

    sb = fresh_sandbox
    out = tmp_path / "groups.csv"
    export = (f"Get-UnifiedGroup -ResultSize Unlimited | Select-Object Alias,RequireSenderAuthenticationEnabled,"
              f"AutoSubscribeNewMembers | Export-Csv -Path '{out}' -NoTypeInformation")
    sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=export.encode())
    rows = {r["Alias"]: (r["RequireSenderAuthenticationEnabled"], r["AutoSubscribeNewMembers"])
            for r in csv.DictReader(out.open())}
    assert rows["sales"] == ("False", "True") and rows["marketing"] == ("True", "False")
    assert "allstaff" not in rows  # a distribution list is no Microsoft 365 group
    done = sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=(
        "Set-UnifiedGroup -Identity 'marketing' -RequireSenderAuthenticationEnabled $false "
        "-AutoSubscribeNewMembers:$true\n" + export).encode())["done"]
    assert done[0] == "marketing: RequireSenderAuthenticationEnabled False, AutoSubscribeNewMembers True"
    assert {r["Alias"]: r["AutoSubscribeNewMembers"] for r in csv.DictReader(out.open())}["marketing"] == "True"
    for bad, says in (("-Identity 'allstaff' -AutoSubscribeNewMembers:$true", "couldn't be found"),
                      ("-Identity 'sales' -HiddenFromAddressListsEnabled $true", "not -hiddenfromaddresslistsenabled"),
                      ("-Identity 'sales' -RequireSenderAuthenticationEnabled 'yes'", "takes $true or $false")):
        with pytest.raises(Exception) as info:
            sb.admin("POST", "powershell/contoso.onmicrosoft.com", data=f"Set-UnifiedGroup {bad}".encode())
        assert says in info.value.response.text
