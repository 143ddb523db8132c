"""The part of Microsoft's published Graph v1.0 metadata (CSDL) the tests hold the sandbox to: every entity and
complex type the sandbox serves, the types derived from them, and their base types, each with the names and
types of its properties and navigation properties. Kept under ``tests/fixtures`` so every clone runs the CSDL
tests; :func:`subset` rebuilds it from the full document, and a test checks the two agree where the full one is
at hand. A type the metadata marks ``OpenType`` keeps the mark: it may carry more properties than it lists."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
FIXTURE = Path(__file__).parent / "fixtures" / "graph-v1.0-subset.csdl"
ROOTS = ("user", "group", "domain", "organization", "subscribedSku", "domainDnsRecord", "directoryObject", "drive",
         "driveItem", "driveItemVersion", "site", "list", "columnDefinition", "listItem", "mailboxFolder",
         "mailboxItem", "verifiedDomain", "licenseUnitsDetail", "servicePlanInfo", "assignedLicense", "fileSystemInfo",
         "itemReference", "file", "hashes", "folder", "package", "deleted", "quota", "identitySet", "identity",
         "siteCollection", "listInfo", "contentTypeInfo", "choiceColumn", "lookupColumn", "calculatedColumn",
         "currencyColumn", "personOrGroupColumn", "message", "event", "contact", "todoTask", "todoTaskList",
         "attachment", "fileAttachment", "notebook", "onenoteSection", "onenotePage", "sectionGroup",
         "conditionalAccessPolicy", "namedLocation", "permission", "sharingLink", "recurrencePattern",
         "recurrenceRange", "patternedRecurrence", "profilePhoto", "uploadSession", "mailFolder", "listItemVersion",
         "sharePointIdentitySet", "sharePointIdentity", "team", "channel", "chat", "chatMessage", "conversationMember",
         "aadUserConversationMember", "teamsTab", "teamsTabConfiguration", "teamsApp", "chatMessageMention",
         "teamMemberSettings", "teamGuestSettings", "teamMessagingSettings", "teamFunSettings", "channelIdentity",
         "chatMessageHostedContent")
ATTRIBUTION = ("Subset of Microsoft Graph v1.0 metadata (CSDL) as published by Microsoft Corporation; types, "
               "property and navigation names only. Rebuilt by tests/csdl_subset.py.")


def _local(name: str) -> str:
    return name.split(".")[-1]


def subset(full: Path) -> str:
    """The fixture's text, from the full metadata document."""
    schema = next(s for s in ET.parse(full).getroot().iter(EDM + "Schema") if s.get("Namespace") == "microsoft.graph")
    nodes = {n.get("Name"): n for kind in ("EntityType", "ComplexType") for n in schema.findall(EDM + kind)}
    derived: dict[str, list[str]] = {}
    for name, node in nodes.items():
        if node.get("BaseType"):
            derived.setdefault(_local(str(node.get("BaseType"))), []).append(str(name))
    keep: set[str] = set()
    todo = [r for r in ROOTS if r in nodes]
    while todo:  # the roots and every type derived from them
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += derived.get(name, [])
    for name in list(keep):  # and their base types, up to the root
        base = nodes[name].get("BaseType")
        while base and _local(base) in nodes:
            keep.add(_local(base))
            base = nodes[_local(base)].get("BaseType")
    out = ET.Element(EDMX + "Edmx", {"Version": "4.0"})
    out.append(ET.Comment(" " + ATTRIBUTION + " "))
    services = ET.SubElement(out, EDMX + "DataServices")
    target = ET.SubElement(services, EDM + "Schema", {"Namespace": "microsoft.graph", "Alias": "graph"})
    for name in sorted(keep):
        node = nodes[name]
        attrs = {"Name": name, **({"BaseType": str(node.get("BaseType"))} if node.get("BaseType") else {}),
                 **({"OpenType": "true"} if node.get("OpenType") == "true" else {})}
        kind = node.tag.replace(EDM, "")
        copy = ET.SubElement(target, EDM + kind, attrs)
        for child in ("Property", "NavigationProperty"):
            for prop in node.findall(EDM + child):
                ET.SubElement(copy, EDM + child, {"Name": str(prop.get("Name")), "Type": str(prop.get("Type"))})
    ET.register_namespace("edmx", EDMX.strip("{}"))
    ET.register_namespace("", EDM.strip("{}"))
    ET.indent(out)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(out, encoding="unicode") + "\n"
