"""Graph's wire shapes in the sandbox: the properties stored per entity type, ``$select``
projection, error bodies, and the directory objects that reference a domain. Shared by reads
(:mod:`.graphapi`) and writes (:mod:`.writes`), which do not import each other."""

from __future__ import annotations

import re
from typing import Any

from ..graphperson import PERSON_ATTRIBUTES
from .state import Tenant, now_iso

# The properties the sandbox stores per entity type; $select may name any of them.
USER_PROPS = ["id", "accountEnabled", "assignedLicenses", "createdDateTime", "displayName", "givenName", "mail",
              "mailNickname", "proxyAddresses", "surname", "usageLocation", "userPrincipalName", "userType",
              "externalUserState", "externalUserStateChangeDateTime", "creationType", *PERSON_ATTRIBUTES]
USER_DEFAULT = ["businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone",
                "officeLocation", "preferredLanguage", "surname", "userPrincipalName"]
GROUP_PROPS = ["id", "createdDateTime", "description", "displayName", "groupTypes", "mail", "mailEnabled",
               "mailNickname", "proxyAddresses", "securityEnabled", "visibility"]
DOMAIN_PROPS = ["id", "authenticationType", "availabilityStatus", "isAdminManaged", "isDefault", "isInitial",
                "isRoot", "isVerified", "passwordNotificationWindowInDays", "passwordValidityPeriodInDays", "state",
                "supportedServices"]
FILTERABLE = {"user": {"userPrincipalName", "mail", "mailNickname", "displayName", "id"},
              "group": {"mailNickname", "displayName", "mail", "id"}}
FILTER_RE = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$")
STARTS_WITH_RE = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
ORG_PROPS = ["id", "businessPhones", "city", "country", "countryLetterCode", "createdDateTime",
             "defaultUsageLocation", "displayName", "preferredLanguage", "tenantType", "verifiedDomains",
             "technicalNotificationMails", "marketingNotificationEmails", "privacyProfile",
             "securityComplianceNotificationMails", "securityComplianceNotificationPhones", "street", "postalCode",
             "state"]
SKU_PROPS = ["id", "accountId", "accountName", "appliesTo", "capabilityStatus", "consumedUnits", "prepaidUnits",
             "servicePlans", "skuId", "skuPartNumber", "subscriptionIds"]

# Least-privileged permission sets that allow each read, as Graph documents them.
READ_PERMS = {
    "users": {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
              "User.ReadBasic.All"},
    "groups": {"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
               "GroupMember.Read.All", "GroupMember.ReadWrite.All"},
    "domains": {"Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
    "organization": {"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                     "Directory.ReadWrite.All", "User.Read"},
    "subscribedSkus": {"LicenseAssignment.Read.All", "LicenseAssignment.ReadWrite.All", "Organization.Read.All",
                       "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
    "me": {"User.Read", "User.ReadWrite", "User.Read.All", "Directory.Read.All"},
}
MAX_PAGE = 999
# what Graph sends with a 401: where to get a token
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                                        'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
BATCH_LIMIT = 20


class GraphFailure(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_body(code: str, message: str, request_id: str, client_request_id: str | None) -> dict[str, Any]:
    inner = {"date": now_iso(), "request-id": request_id}
    if client_request_id:
        inner["client-request-id"] = client_request_id
    return {"error": {"code": code, "message": message, "innerError": inner}}


def _project(obj: dict[str, Any], select: list[str] | None, allowed: list[str], default: list[str] | None,
             type_name: str) -> dict[str, Any]:
    names = select if select is not None else (default or allowed)
    out = {}
    if "@odata.type" in obj:
        out["@odata.type"] = obj["@odata.type"]
    for name in names:
        out[name] = obj.get(name)
    return out


def _parse_select(query: dict[str, str], allowed: list[str], type_name: str) -> list[str] | None:
    raw = query.get("$select")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in allowed:
            raise GraphFailure(400, "Request_BadRequest",
                               f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.")
    return names


def domain_references(tenant: Tenant, domain: str) -> list[dict[str, Any]]:
    suffix = "@" + domain.lower()
    refs: list[dict[str, Any]] = []
    for user in tenant.users.values():
        addresses = [user["userPrincipalName"], user.get("mail") or ""] + [
            p.split(":", 1)[-1] for p in user.get("proxyAddresses", [])]
        if any(a.lower().endswith(suffix) for a in addresses):
            refs.append({"@odata.type": "#microsoft.graph.user", "id": user["id"],
                         "displayName": user["displayName"], "userPrincipalName": user["userPrincipalName"]})
    for group in tenant.groups.values():
        addresses = [group.get("mail") or ""] + [p.split(":", 1)[-1] for p in group.get("proxyAddresses", [])]
        if any(a.lower().endswith(suffix) for a in addresses):
            refs.append({"@odata.type": "#microsoft.graph.group", "id": group["id"],
                         "displayName": group["displayName"], "mail": group["mail"]})
    for app in tenant.apps.values():
        if any(domain.lower() in uri.lower() for uri in app.identifier_uris):
            refs.append({"@odata.type": "#microsoft.graph.application", "id": app.object_id,
                         "displayName": app.display_name})
    return refs



# navigation properties and entity sets that hold many: the segment after one of them is a key
COLLECTIONS = frozenset({
    "users", "groups", "domains", "drives", "items", "children", "sites", "lists", "columns", "contentTypes",
    "messages", "mailFolders", "childFolders", "events", "instances", "contacts", "contactFolders", "attachments",
    "notebooks", "sections", "sectionGroups", "pages", "mailboxes", "folders", "permissions", "versions",
    "policies", "calendars", "tasks", "members", "owners", "subscribedSkus", "namedLocations",
})


def context_url(base: str, rest: str, body: Any) -> str:
    """The ``@odata.context`` Graph puts on a response: the path to what was read, keys in parentheses, the last
    key of a single entity dropped and ``/$entity`` added (OData's rule for minimal metadata)."""
    addressed = re.sub(r":(/[^:]*|[^/:]*)(:|$)", "", rest.split("?", 1)[0])  # root:/a/b: is an item under root
    parts = [p for p in addressed.split("/") if p]
    path: list[str] = []
    last_key = None
    for i, part in enumerate(parts):
        if i and parts[i - 1] in COLLECTIONS and part not in COLLECTIONS:
            last_key = len(path)
            path[-1] = f"{path[-1]}('{part}')"
        else:
            path.append(part)
    many = isinstance(body, dict) and isinstance(body.get("value"), list)
    if not many:
        if last_key is not None and last_key == len(path):  # ends on a key: the entity of that collection
            path[-1] = path[-1].split("(", 1)[0]
        path.append("$entity")
    return f"{base}/v1.0/$metadata#" + "/".join(path)
