"""Every property the sandbox returns exists on its entity type in Microsoft's v1.0 metadata."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphClient

from .conftest import CSDL, FULL_CSDL
from .csdl_subset import subset

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
COMPLEX = {"verifiedDomains": "verifiedDomain", "prepaidUnits": "licenseUnitsDetail",
           "servicePlans": "servicePlanInfo", "assignedLicenses": "assignedLicense",
           "fileSystemInfo": "fileSystemInfo", "parentReference": "itemReference", "file": "file", "hashes": "hashes",
           "folder": "folder", "package": "package", "deleted": "deleted", "quota": "quota",
           "createdBy": "identitySet", "lastModifiedBy": "identitySet", "owner": "identitySet", "user": "identity",
           "group": "identity", "siteCollection": "siteCollection", "list": "listInfo", "contentType": "contentTypeInfo",
           "choice": "choiceColumn", "lookup": "lookupColumn", "calculated": "calculatedColumn",
           "currency": "currencyColumn", "personOrGroup": "personOrGroupColumn", "grantedToV2": "sharePointIdentitySet",
           "siteGroup": "sharePointIdentity", "siteUser": "sharePointIdentity", "memberSettings": "teamMemberSettings",
           "guestSettings": "teamGuestSettings", "messagingSettings": "teamMessagingSettings",
           "funSettings": "teamFunSettings", "channelIdentity": "channelIdentity", "mentions": "chatMessageMention",
           "configuration": "teamsTabConfiguration", "teamsApp": "teamsApp"}


# Properties the service sends beyond the metadata's list, on types the metadata marks OpenType (most of Graph's
# types are, so openness alone would let anything through): a person's address on an identity.
DYNAMIC = {"microsoft.graph.identity": {"email"}}


@functools.cache
def open_types() -> set[str]:
    """Types the metadata marks ``OpenType``: they may carry properties beyond those it lists."""
    out = set()
    for schema in ET.parse(CSDL).getroot().iter(EDM + "Schema"):
        names = {schema.get("Namespace"), schema.get("Alias")} - {None}
        for kind in ("EntityType", "ComplexType"):
            out |= {f"{ns}.{node.get('Name')}" for node in schema.findall(EDM + kind)
                    if node.get("OpenType") == "true" for ns in names}
    return out


@functools.cache
def csdl_types() -> dict[str, tuple[str | None, set[str]]]:
    types: dict[str, tuple[str | None, set[str]]] = {}
    for schema in ET.parse(CSDL).getroot().iter(EDM + "Schema"):
        names = {schema.get("Namespace"), schema.get("Alias")} - {None}
        for kind in ("EntityType", "ComplexType"):
            for node in schema.findall(EDM + kind):
                props = {p.get("Name") for p in node.findall(EDM + "Property")}
                props |= {p.get("Name") for p in node.findall(EDM + "NavigationProperty")}
                for ns in names:
                    types[f"{ns}.{node.get('Name')}"] = (node.get("BaseType"), props)
    return types


def properties(type_name: str) -> set[str]:
    types = csdl_types()
    name = type_name if "." in type_name else f"microsoft.graph.{type_name}"
    base, props = types[name]
    out = set(props)
    while base:
        base_name = base.replace("graph.", "microsoft.graph.", 1) if base.startswith("graph.") else base
        base, more = types[base_name]
        out |= more
    return out


def check(obj: dict[str, Any], type_name: str, where: str) -> list[str]:
    if "@odata.type" in obj:
        type_name = obj["@odata.type"].lstrip("#")
    allowed = properties(type_name)
    full = type_name if "." in type_name else f"microsoft.graph.{type_name}"
    allowed |= DYNAMIC.get(full, set()) if full in open_types() else set()
    problems = [f"{where}: {type_name} has no property {k!r}" for k in obj if not k.startswith("@") and k not in allowed]
    for key, complex_type in COMPLEX.items():
        values = obj.get(key)
        for value in values if isinstance(values, list) else ([values] if isinstance(values, dict) else []):
            problems += check(value, complex_type, f"{where}.{key}")
    return problems


def test_sandbox_properties_exist_in_csdl(sandbox: Sandbox, source_client: GraphClient) -> None:
    from tenantmove.sandbox.shapes import DOMAIN_PROPS, GROUP_PROPS, ORG_PROPS, SKU_PROPS, USER_PROPS

    problems: list[str] = []
    samples = {
        "user": source_client.get_all("users", {"$select": ",".join(USER_PROPS)}),
        "group": source_client.get_all("groups", {"$select": ",".join(GROUP_PROPS)}),
        "domain": source_client.get("domains", {"$select": ",".join(DOMAIN_PROPS)})["value"],
        "organization": source_client.get("organization", {"$select": ",".join(ORG_PROPS)})["value"],
        "subscribedSku": source_client.get("subscribedSkus", {"$select": ",".join(SKU_PROPS)})["value"],
    }
    for path in ("verificationDnsRecords", "serviceConfigurationRecords", "domainNameReferences"):
        samples[f"domainDnsRecord/{path}"] = source_client.get(f"domains/contoso.example/{path}")["value"]
    group = samples["group"][0]["id"]
    samples["directoryObject/members"] = source_client.get_all(f"groups/{group}/members")
    drive = source_client.get("users/megan.bowen@contoso.example/drive")
    samples["drive"] = [drive]
    samples["driveItem/delta"] = source_client.get(f"drives/{drive['id']}/root/delta")["value"]
    samples["driveItem/children"] = source_client.get_all(f"drives/{drive['id']}/root/children")
    plan = source_client.get(f"drives/{drive['id']}/root:/Campaigns/2026/Plan.docx")
    samples["driveItemVersion"] = source_client.get(f"drives/{drive['id']}/items/{plan['id']}/versions")["value"]
    sites = source_client.get("sites", {"search": "*"})["value"]
    sales = next(s for s in sites if s["name"] == "sales")
    samples["site"] = sites + source_client.get(f"sites/{sales['id']}/sites")["value"]
    samples["list"] = source_client.get(f"sites/{sales['id']}/lists")["value"]
    samples["columnDefinition"] = source_client.get(f"sites/{sales['id']}/lists/Customers/columns")["value"]
    samples["listItem"] = source_client.get(f"sites/{sales['id']}/lists/Customers/items", {"expand": "fields"})["value"]
    samples["listItemVersion"] = source_client.get(f"sites/{sales['id']}/lists/Customers/items/4/versions")["value"]
    intranet = next(s for s in sites if s["name"] == "intranet")
    finance = next(d for d in source_client.get_all(f"sites/{intranet['id']}/drives") if d["name"] == "Finance")
    payroll = source_client.get(f"drives/{finance['id']}/root:/Payroll")
    budget = source_client.get(f"drives/{drive['id']}/root:/Campaigns/2026/Budget.xlsx")
    samples["permission"] = source_client.get(f"drives/{finance['id']}/items/{payroll['id']}/permissions")["value"] + \
        source_client.get(f"drives/{drive['id']}/items/{budget['id']}/permissions")["value"]
    box = source_client.get("users/megan.bowen@contoso.example/settings/exchange")["primaryMailboxId"]
    samples["mailboxFolder"] = source_client.get(f"admin/exchange/mailboxes/{box}/folders/delta")["value"]
    inbox = next(f for f in samples["mailboxFolder"] if f["displayName"] == "Inbox")
    samples["mailboxItem"] = source_client.get(f"admin/exchange/mailboxes/{box}/folders/{inbox['id']}/items")["value"]
    team = source_client.get(f"teams/{groups_by_nick(source_client)['sales']}")
    samples["team"] = [team]
    samples["channel"] = source_client.get(f"teams/{team['id']}/channels")["value"]
    general = next(c for c in samples["channel"] if c["displayName"] == "General")
    samples["chatMessage"] = source_client.get(f"teams/{team['id']}/channels/{general['id']}/messages")["value"]
    samples["teamsTab"] = source_client.get(f"teams/{team['id']}/channels/{general['id']}/tabs")["value"]
    samples["conversationMember"] = source_client.get(f"teams/{team['id']}/channels/{samples['channel'][1]['id']}"
                                                      "/members")["value"]
    samples["chat"] = source_client.get("users/megan.bowen@contoso.example/chats")["value"]
    for type_name, objects in samples.items():
        assert objects, f"no sample of {type_name}"
        for i, obj in enumerate(objects):
            problems += check(obj, type_name.split("/")[0], f"{type_name}[{i}]")
    assert not problems, "\n".join(problems[:20])


def groups_by_nick(client: GraphClient) -> dict[str, str]:
    return {g["mailNickname"]: g["id"] for g in client.get_all("groups")}


@pytest.mark.skipif(not FULL_CSDL.is_file(), reason="Microsoft's full v1.0 CSDL is not beside this clone")
def test_the_vendored_subset_is_what_the_full_metadata_says() -> None:
    assert CSDL.read_text(encoding="utf-8") == subset(FULL_CSDL)


def test_the_check_catches_an_invented_property() -> None:
    assert check({"id": "1", "displayName": "x", "favouriteColour": "red"}, "user", "u")
    assert not check({"id": "1", "displayName": "x"}, "user", "u")
    assert not check({"id": "1", "email": "a@b"}, "identity", "i")  # sent by the service on an open type
    assert check({"id": "1", "shoeSize": 9}, "identity", "i")  # open, but not a property the service sends


def test_what_the_sandbox_lets_select_on_outlook_items_is_graphs() -> None:
    """Outlook's $select is checked against these lists (an unknown property is a 400): each name must be a
    property of Graph's message, event or contact, and none of Graph's may be missing."""
    from tenantmove.sandbox.outlookapi import ODATA_TYPE, SELECTABLE

    for what, names in SELECTABLE.items():
        graph = properties(ODATA_TYPE[what])
        navigation = {"attachments", "calendar", "exceptionOccurrences", "extensions", "instances",
                      "multiValueExtendedProperties", "singleValueExtendedProperties", "photo"}
        assert names <= graph, (what, sorted(names - graph))
        assert not (graph - navigation) - names, (what, sorted((graph - navigation) - names))
