"""Graph writes in the sandbox, with the rules the real service enforces:

- a user's UPN must be on a verified domain of the tenant, and unique; a licence needs a usage
  location and a free seat;
- a domain verifies only when DNS serves its ``MS=ms…`` TXT record and it is not verified in
  another tenant; it cannot be deleted while anything references it, nor while it is the default;
- ``forceDelete`` renames the references (users' UPN, mail and proxyAddresses, groups' mail and
  proxyAddresses, apps' identifierUris) to the initial domain asynchronously, and refuses more than
  1,000 objects or a multitenant application.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

import dns.name
import dns.rdatatype

from .knobs import Governor
from .shapes import PERSON_ATTRIBUTES, USER_DEFAULT, USER_PROPS, GraphFailure, _project, domain_references
from .state import Store, Tenant, _domain_record, now_iso, verification_code

WRITE_PERMS = {
    "users": {"User.ReadWrite.All", "Directory.ReadWrite.All"},
    "licence": {"User.ReadWrite.All", "LicenseAssignment.ReadWrite.All", "Directory.ReadWrite.All"},
    "groups": {"Group.ReadWrite.All", "Directory.ReadWrite.All"},
    "members": {"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
    "domains": {"Domain.ReadWrite.All", "Directory.ReadWrite.All"},
}
USER_WRITABLE = {"accountEnabled", "displayName", "givenName", "surname", "usageLocation", "userPrincipalName", "mail",
                 "mailNickname", "passwordProfile", *PERSON_ATTRIBUTES}
GROUP_WRITABLE = {"displayName", "description", "mailNickname", "visibility"}
# Delegated writes also need the signed-in user to hold a directory role that allows them
WRITE_ROLES = {
    "users": {"User Administrator"},
    "licence": {"User Administrator"},
    "groups": {"Groups Administrator", "User Administrator"},
    "members": {"Groups Administrator", "User Administrator"},
    "domains": {"Domain Name Administrator"},
}
FORCE_DELETE_LIMIT = 1000
REF_RE = re.compile(r"/(?:directoryObjects|users|groups)/([0-9a-fA-F-]{36})$")  # an object by id, as Graph takes it


def _fail(status: int, code: str, message: str) -> Exception:
    return GraphFailure(status, code, message)


def _bad(message: str) -> Exception:
    return _fail(400, "Request_BadRequest", message)


PASSWORD_PROPS = {"passwordValidityPeriodInDays", "passwordNotificationWindowInDays"}


class Writes:
    def __init__(self, store: Store, governor: Governor, zones: Any = None) -> None:
        self.store, self.governor, self.zones = store, governor, zones

    # --- dispatch ------------------------------------------------------------------------------
    def handle(self, method: str, parts: list[str], body: Any, tenant: Tenant, claims: dict[str, Any],
               base: str) -> tuple[int, Any]:
        body = body if isinstance(body, dict) else {}
        res = parts[0]
        n = len(parts)
        if res == "users":
            if method == "POST" and n == 1:
                self._need(claims, "users", tenant)
                return 201, self.create_user(tenant, body, base)
            if method == "PATCH" and n == 2:
                self._need(claims, "users", tenant)
                self.update_user(tenant, parts[1], body)
                return 204, None
            if method == "POST" and n == 3 and parts[2] == "assignLicense":
                self._need(claims, "licence", tenant)
                return 200, self.assign_license(tenant, parts[1], body)
            if method in ("PUT", "DELETE") and n == 4 and parts[2] == "manager" and parts[3] == "$ref":
                self._need(claims, "users", tenant)
                self.set_manager(tenant, parts[1], body if method == "PUT" else None)
                return 204, None
        if res == "groups":
            if method == "POST" and n == 1:
                self._need(claims, "groups", tenant)
                return 201, self.create_group(tenant, body)
            if method == "PATCH" and n == 2:
                self._need(claims, "groups", tenant)
                self.update_group(tenant, parts[1], body)
                return 204, None
            if method == "POST" and n == 4 and parts[2] == "members" and parts[3] == "$ref":
                self._need(claims, "members", tenant)
                self.add_member(tenant, parts[1], body)
                return 204, None
            if method == "DELETE" and n == 5 and parts[2] == "members" and parts[4] == "$ref":
                self._need(claims, "members", tenant)
                if parts[1] not in tenant.groups or parts[3] not in tenant.members[parts[1]]:
                    raise _fail(404, "Request_ResourceNotFound", f"Resource '{parts[3]}' does not exist or one of its "
                                                                 "queried reference-property objects are not present.")
                tenant.members[parts[1]].remove(parts[3])
                return 204, None
        if res == "domains":
            self._need(claims, "domains", tenant)
            if method == "POST" and n == 1:
                return 201, self.add_domain(tenant, body)
            if method == "PATCH" and n == 2:
                self.update_domain(tenant, parts[1], body)
                return 204, None
            if method == "DELETE" and n == 2:
                self.delete_domain(tenant, parts[1])
                return 204, None
            if method == "POST" and n == 3 and parts[2] == "verify":
                return 200, self.verify_domain(tenant, parts[1])
            if method == "POST" and n == 3 and parts[2] == "forceDelete":
                self.force_delete(tenant, parts[1], bool(body.get("disableUserAccounts", False)))
                return 204, None
        raise _fail(405, "Request_BadRequest", f"The sandbox does not support {method} on '{'/'.join(parts)}'.")

    @staticmethod
    def _need(claims: dict[str, Any], what: str, tenant: Tenant) -> None:
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        if not granted & WRITE_PERMS[what]:
            raise _fail(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if "scp" in claims:  # delegated: the scope is not enough, the person needs an admin role too
            held = set(tenant.roles.get(str(claims.get("oid")), []))
            if not held & (WRITE_ROLES[what] | {"Global Administrator"}):
                raise _fail(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    # --- users ---------------------------------------------------------------------------------
    def _check_upn(self, tenant: Tenant, upn: str, exclude: str | None = None) -> None:
        if upn.count("@") != 1:
            raise _bad("Invalid value specified for property 'userPrincipalName' of resource 'User'.")
        domain = upn.split("@")[1].lower()
        record = tenant.domains.get(domain)
        if record is None or not record["isVerified"]:
            raise _bad("The domain portion of the userPrincipalName property is invalid. You must use one of the "
                       "verified domain names in your organization.")
        other = tenant.find_user(upn)
        if other is not None and other["id"] != exclude:
            raise _bad("Another object with the same value for property userPrincipalName already exists.")

    def create_user(self, tenant: Tenant, body: dict[str, Any], base: str) -> dict[str, Any]:
        for required in ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile"):
            if required not in body:
                raise _bad(f"Invalid value specified for property '{required}' of resource 'User'.")
        password = (body.get("passwordProfile") or {}).get("password") or ""
        if len(password) < 8:
            raise _bad("The specified password does not comply with password complexity requirements.")
        upn = body["userPrincipalName"]
        self._check_upn(tenant, upn)
        uid = str(uuid.uuid4())
        nickname = body["mailNickname"]
        user = {
            **{a: body.get(a) for a in PERSON_ATTRIBUTES}, "businessPhones": body.get("businessPhones", []),
            "id": uid, "accountEnabled": bool(body["accountEnabled"]),
            "createdDateTime": now_iso(), "displayName": body["displayName"],
            "givenName": body.get("givenName"), "mail": body.get("mail") or upn,
            "mailNickname": nickname, "surname": body.get("surname"),
            "usageLocation": body.get("usageLocation"), "userPrincipalName": upn, "userType": "Member",
            "assignedLicenses": [],
            "proxyAddresses": [f"SMTP:{body.get('mail') or upn}"] + (
                [f"smtp:{nickname}@{tenant.initial_domain}"] if not upn.lower().endswith("@" + tenant.initial_domain)
                else []),
        }
        tenant.users[uid] = user
        return dict(_project(user, None, USER_PROPS, USER_DEFAULT, "user"),
                    **{"@odata.context": f"{base}/v1.0/$metadata#users/$entity"})

    def _user(self, tenant: Tenant, key: str) -> dict[str, Any]:
        user = tenant.find_user(key)
        if user is None:
            raise _fail(404, "Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its queried "
                        "reference-property objects are not present.")
        return user

    def update_user(self, tenant: Tenant, key: str, body: dict[str, Any]) -> None:
        user = self._user(tenant, key)
        unknown = set(body) - USER_WRITABLE
        if unknown:
            raise _bad(f"Property '{sorted(unknown)[0]}' is read-only and cannot be set.")
        if "userPrincipalName" in body:
            self._check_upn(tenant, body["userPrincipalName"], exclude=user["id"])
        if "usageLocation" in body and body["usageLocation"] is None and user["assignedLicenses"]:
            raise _bad("Cannot remove the usage location of a user with licences.")
        if "mail" in body and body["mail"] != user.get("mail"):
            proxies = [p for p in user.get("proxyAddresses", []) if p.split(":", 1)[-1].lower() != str(body["mail"]).lower()]
            proxies = [("smtp:" + p.split(":", 1)[1]) if p.startswith("SMTP:") else p for p in proxies]
            user["proxyAddresses"] = [f"SMTP:{body['mail']}"] + proxies  # the old address stays as an alias
        for key_, value in body.items():
            if key_ != "passwordProfile":
                user[key_] = value

    def set_manager(self, tenant: Tenant, key: str, body: dict[str, Any] | None) -> None:
        """PUT users/{id}/manager/$ref with the manager's ``@odata.id``; DELETE (``body`` None) removes it."""
        user = self._user(tenant, key)
        if body is None:
            if not user.get("manager"):
                raise _fail(404, "Request_ResourceNotFound", "Resource 'manager' does not exist or one of its queried "
                            "reference-property objects are not present.")
            user["manager"] = None
            return
        match = REF_RE.search(str(body.get("@odata.id", "")))
        if not match:
            raise _bad("Invalid object identifier in @odata.id.")
        manager = tenant.users.get(match.group(1))  # a manager is a user (or an org contact, which has no sandbox)
        if manager is None:
            raise _fail(404, "Request_ResourceNotFound", f"Resource '{match.group(1)}' does not exist.")
        if manager["id"] == user["id"]:
            raise _bad("A user cannot be their own manager.")
        user["manager"] = manager["id"]

    def assign_license(self, tenant: Tenant, key: str, body: dict[str, Any]) -> dict[str, Any]:
        user = self._user(tenant, key)
        add = body.get("addLicenses")
        remove = body.get("removeLicenses")
        if add is None or remove is None:
            raise _bad("addLicenses and removeLicenses are required.")
        if add and not user.get("usageLocation"):
            raise _bad("License assignment cannot be done for user with invalid usage location.")
        have = {lic["skuId"] for lic in user["assignedLicenses"]}
        for lic in add:
            sku = tenant.skus.get(lic.get("skuId", ""))
            if sku is None:
                raise _bad(f"License {lic.get('skuId')} does not correspond to a valid company License.")
            if lic["skuId"] not in have and tenant.consumed(lic["skuId"]) >= sku["prepaidUnits"]["enabled"]:
                raise _bad(f"Subscription {sku['skuPartNumber']} does not have any available licenses.")
            plans = {p["servicePlanId"] for p in sku["servicePlans"]}
            strange = [p for p in lic.get("disabledPlans") or [] if p not in plans]
            if strange:
                raise _bad(f"The service plan {strange[0]} is not part of the license {sku['skuPartNumber']}.")
        user["assignedLicenses"] = [lic for lic in user["assignedLicenses"] if lic["skuId"] not in set(remove)]
        for lic in add:  # a licence the user holds already takes the plans given now (how plans are turned off)
            entry = {"disabledPlans": list(lic.get("disabledPlans") or []), "skuId": lic["skuId"]}
            held = [i for i, h in enumerate(user["assignedLicenses"]) if h["skuId"] == lic["skuId"]]
            if held:
                user["assignedLicenses"][held[0]] = entry
            else:
                user["assignedLicenses"].append(entry)
        return {"id": user["id"], "displayName": user["displayName"], "userPrincipalName": user["userPrincipalName"]}

    # --- groups ----------------------------------------------------------------------------------
    def create_group(self, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
        for required in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
            if required not in body:
                raise _bad(f"Invalid value specified for property '{required}' of resource 'Group'.")
        unified = "Unified" in (body.get("groupTypes") or [])
        if body["mailEnabled"] and not unified:
            raise _bad("Only Microsoft 365 groups can be created mail-enabled through Graph; create distribution "
                       "lists and mail-enabled security groups in Exchange.")
        default = next((d for d, v in tenant.domains.items() if v["isDefault"]), tenant.initial_domain)
        mail = f"{body['mailNickname']}@{default}" if unified else None
        if mail and any((g.get("mail") or "").lower() == mail.lower() for g in tenant.groups.values()):
            raise _bad("Another object with the same value for property proxyAddresses already exists.")
        gid = str(uuid.uuid4())
        group = {"id": gid, "createdDateTime": now_iso(), "description": body.get("description"),
                 "displayName": body["displayName"], "groupTypes": list(body.get("groupTypes") or []), "mail": mail,
                 "mailEnabled": bool(body["mailEnabled"]), "mailNickname": body["mailNickname"],
                 "proxyAddresses": [f"SMTP:{mail}"] if mail else [], "securityEnabled": bool(body["securityEnabled"]),
                 "visibility": body.get("visibility") if unified else None}
        tenant.groups[gid] = group
        tenant.members[gid] = []
        return dict(group)

    def update_group(self, tenant: Tenant, gid: str, body: dict[str, Any]) -> None:
        group = tenant.groups.get(gid)
        if group is None:
            raise _fail(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist.")
        unknown = set(body) - GROUP_WRITABLE
        if unknown:
            raise _bad(f"Property '{sorted(unknown)[0]}' is read-only and cannot be set.")
        if "visibility" in body and "HiddenMembership" in (body["visibility"], group.get("visibility")) and \
                body["visibility"] != group.get("visibility"):
            raise _bad("HiddenMembership can be set only when a Microsoft 365 group is created.")
        group.update(body)

    def add_member(self, tenant: Tenant, gid: str, body: dict[str, Any]) -> None:
        if gid not in tenant.groups:
            raise _fail(404, "Request_ResourceNotFound", f"Resource '{gid}' does not exist.")
        match = REF_RE.search(str(body.get("@odata.id", "")))
        if not match:
            raise _bad("Invalid object identifier in @odata.id.")
        member = match.group(1)
        if member not in tenant.users and member not in tenant.groups:
            raise _fail(404, "Request_ResourceNotFound", f"Resource '{member}' does not exist.")
        if member in tenant.members[gid]:
            raise _bad("One or more added object references already exist for the following modified properties: "
                       "'members'.")
        tenant.members[gid].append(member)

    # --- domains ---------------------------------------------------------------------------------
    def _domain(self, tenant: Tenant, name: str) -> dict[str, Any]:
        domain = tenant.domains.get(name.lower())
        if domain is None:
            raise _fail(404, "Request_ResourceNotFound", f"Resource '{name}' does not exist or one of its queried "
                        "reference-property objects are not present.")
        return domain

    def add_domain(self, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:

        name = str(body.get("id", "")).lower().strip()
        if not re.match(r"^([a-z0-9-]+\.)+[a-z]{2,63}$", name):
            raise _bad("Invalid domain name.")
        if name in tenant.domains:
            raise _bad("A domain with the specified name already exists in the directory.")
        record = _domain_record(name, initial=False, default=False, verified=False, services=[])
        tenant.domains[name] = record
        return dict(record)

    def update_domain(self, tenant: Tenant, name: str, body: dict[str, Any]) -> None:
        domain = self._domain(tenant, name)
        unknown = set(body) - {"isDefault", "supportedServices", *PASSWORD_PROPS}
        if unknown:
            raise _bad(f"Property '{sorted(unknown)[0]}' cannot be updated.")
        for key in PASSWORD_PROPS & set(body):
            if not isinstance(body[key], int) or isinstance(body[key], bool) or body[key] < 1:
                raise _bad(f"Invalid value for '{key}': a whole number of days.")
            domain[key] = body[key]
        if body.get("isDefault"):
            if not domain["isVerified"]:
                raise _bad("An unverified domain cannot be the default domain.")
            for other in tenant.domains.values():
                other["isDefault"] = False
            domain["isDefault"] = True
        if "supportedServices" in body:
            if not domain["isVerified"]:
                raise _bad("Services can be added only to a verified domain.")
            domain["supportedServices"] = list(body["supportedServices"])

    def verify_domain(self, tenant: Tenant, name: str) -> dict[str, Any]:
        domain = self._domain(tenant, name)
        if domain["isVerified"]:
            return dict(domain)
        if not self._txt_published(domain["id"], verification_code(tenant.id, domain["id"])):
            raise _bad(f"Domain verification failed: the TXT record {verification_code(tenant.id, domain['id'])} was not "
                       f"found in the DNS of {domain['id']}.")
        for other in self.store.tenants.values():
            if other.id != tenant.id and other.domains.get(domain["id"], {}).get("isVerified"):
                raise _bad(f"Domain verification failed: {domain['id']} is already verified in another tenant. "
                           "Remove it from that tenant first.")
        domain["isVerified"] = True
        return dict(domain)

    def _txt_published(self, name: str, text: str) -> bool:
        zones = self.zones
        if zones is None:
            return False
        qname = dns.name.from_text(name)
        with zones.lock:
            zone = zones._zone_for(qname)
            rds = zone.get_rdataset(qname, dns.rdatatype.TXT) if zone else None
            values = {b"".join(rd.strings).decode() for rd in rds} if rds else set()
        return text in values

    def delete_domain(self, tenant: Tenant, name: str) -> None:
        domain = self._domain(tenant, name)
        if domain["isInitial"]:
            raise _bad("The initial domain cannot be deleted.")
        if domain["isDefault"]:
            raise _bad("The default domain cannot be deleted. Make another verified domain the default first.")
        refs = domain_references(tenant, domain["id"])
        if refs:
            raise _bad(f"Domain {domain['id']} cannot be deleted because it is referenced by {len(refs)} object(s). "
                       "Use domainNameReferences to list them.")
        del tenant.domains[domain["id"]]

    def force_delete(self, tenant: Tenant, name: str, disable_users: bool) -> None:
        domain = self._domain(tenant, name)
        if domain["isInitial"] or domain["isDefault"]:
            raise _bad("The initial or default domain cannot be deleted.")
        refs = domain_references(tenant, domain["id"])
        if len(refs) > FORCE_DELETE_LIMIT:
            raise _bad(f"forceDelete renames at most {FORCE_DELETE_LIMIT} objects; {domain['id']} is referenced by "
                       f"{len(refs)}. Rename some of them first.")
        multi = [a.display_name for a in tenant.apps.values() if a.multitenant and
                 any(domain["id"] in u.lower() for u in a.identifier_uris)]
        if multi:
            raise _bad(f"forceDelete cannot rename multitenant application(s): {', '.join(multi)}. "
                       "Change their identifierUris first.")
        domain["state"] = {"lastActionDateTime": now_iso(), "operation": "ForceDelete", "status": "InProgress"}
        delay = float(self.governor.knobs.force_delete_seconds)
        threading.Timer(delay, self._finish_force_delete, args=(tenant, domain["id"], disable_users)).start()

    def _finish_force_delete(self, tenant: Tenant, name: str, disable_users: bool) -> None:
        initial = tenant.initial_domain
        suffix = "@" + name

        def moved(address: str) -> str:
            local = address.rsplit("@", 1)[0]
            return f"{local}@{initial}"

        with self.store.lock:
            for user in tenant.users.values():
                touched = False
                if user["userPrincipalName"].lower().endswith(suffix):
                    user["userPrincipalName"] = moved(user["userPrincipalName"])
                    touched = True
                if (user.get("mail") or "").lower().endswith(suffix):
                    user["mail"] = moved(user["mail"])
                    touched = True
                new_proxies = []
                for p in user.get("proxyAddresses", []):
                    kind, _, addr = p.partition(":")
                    if addr.lower().endswith(suffix):
                        addr, touched = moved(addr), True
                    if f"{kind}:{addr}".lower() not in {x.lower() for x in new_proxies}:
                        new_proxies.append(f"{kind}:{addr}")
                user["proxyAddresses"] = new_proxies
                if touched and disable_users:
                    user["accountEnabled"] = False
            for group in tenant.groups.values():
                if (group.get("mail") or "").lower().endswith(suffix):
                    group["mail"] = moved(group["mail"])
                group["proxyAddresses"] = [
                    f"{p.partition(':')[0]}:{moved(p.partition(':')[2])}" if p.lower().endswith(suffix) else p
                    for p in group.get("proxyAddresses", [])]
            for app in tenant.apps.values():
                app.identifier_uris = [u.replace(name, initial) for u in app.identifier_uris]
            tenant.domains.pop(name, None)
