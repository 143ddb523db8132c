"""The sandbox's tenants: directory objects in Graph's own shape, built from a seed spec."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import random
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SEED = Path(__file__).with_name("seed.yaml")

# Real SKU and service-plan ids, so that inventories look like the real service's.
SKU_CATALOG: dict[str, dict[str, Any]] = {
    "O365_BUSINESS_PREMIUM": {
        "skuId": "f245ecc8-75af-4f8e-b61f-27d8114de5b3",
        "plans": [("EXCHANGE_S_STANDARD", "9aaf7827-d63c-4b61-89c3-182f06f82e5c"),
                  ("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1"),
                  ("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
                  ("ONEDRIVESTANDARD", "13696edf-5a08-49f6-8134-03083ed8ba30")],
    },
    "EXCHANGESTANDARD": {
        "skuId": "4b9405b0-7788-4568-add1-99614e613b69",
        "plans": [("EXCHANGE_S_STANDARD", "9aaf7827-d63c-4b61-89c3-182f06f82e5c")],
    },
    "SPE_E3": {
        "skuId": "05e9a617-0261-4cee-bb44-138d3ef5d965",
        "plans": [("EXCHANGE_S_ENTERPRISE", "efb87545-963c-4e0d-99df-69c6916d9eb0"),
                  ("SHAREPOINTENTERPRISE", "5dbe027f-2339-4123-9542-606e4d348a72")],
    },
}

GIVEN = ["Adele", "Bianca", "Cameron", "Diego", "Emily", "Farah", "Grady", "Henrietta", "Isaiah", "Joni",
         "Lee", "Lidia", "Lynne", "Miriam", "Nestor", "Patti", "Pradeep", "Raul", "Sanne", "Tom"]
FAMILY = ["Vance", "Pila", "White", "Siciliani", "Braun", "Ahmed", "Archie", "Cartwright", "Gonzales",
          "Sherman", "Gu", "Holloway", "Robbins", "Caldwell", "Mondragon", "Fernandez", "Gupta", "Meijer",
          "Jansen", "Bakker"]
DEPARTMENTS = ["Sales", "Marketing", "Finance", "Operations", "Legal", "Research", "Support"]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stable_uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]))


@dataclass
class App:
    client_id: str
    display_name: str
    tenant_id: str
    roles: list[str]
    delegated: list[str]
    secret: str | None = None
    certificates: dict[str, Any] = field(default_factory=dict)  # x5t thumbprint (b64url sha1) -> public key
    identifier_uris: list[str] = field(default_factory=list)
    multitenant: bool = False

    @property
    def object_id(self) -> str:
        """The application object's id in its tenant: not the client (app) id, as in Entra."""
        return _stable_uuid(self.tenant_id, "application", self.client_id)


@dataclass
class Tenant:
    id: str
    key: str
    display_name: str
    initial_domain: str
    country: str
    created: str
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)  # group id -> directory object ids
    skus: dict[str, dict[str, Any]] = field(default_factory=dict)  # skuId -> subscribedSku (minus consumed)
    apps: dict[str, App] = field(default_factory=dict)
    public_websites: dict[str, str] = field(default_factory=dict)  # domain -> website host label
    roles: dict[str, list[str]] = field(default_factory=dict)  # user id -> directory roles (display names)
    owners: dict[str, list[str]] = field(default_factory=dict)  # group id -> owners' user ids
    photos: dict[str, bytes] = field(default_factory=dict)  # user id -> profile photo (JPEG)
    mailbox_rights: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # mailbox -> FullAccess holders
    send_as: dict[str, list[str]] = field(default_factory=dict)  # mailbox user id -> who may send as it
    group_delivery: dict[str, dict[str, bool]] = field(default_factory=dict)  # group id -> Set-UnifiedGroup settings

    def names(self) -> set[str]:
        """Every name this tenant answers to at the sign-in service: id and verified domains."""
        return {self.id.lower()} | {d.lower() for d, v in self.domains.items() if v["isVerified"]}

    def find_user(self, key: str) -> dict[str, Any] | None:
        key_l = key.lower()
        if key_l in self.users:
            return self.users[key_l]
        for user in self.users.values():
            if user["userPrincipalName"].lower() == key_l:
                return user
        return None

    def consumed(self, sku_id: str) -> int:
        return sum(1 for u in self.users.values() for lic in u["assignedLicenses"] if lic["skuId"] == sku_id)


def _domain_record(name: str, *, initial: bool, default: bool, verified: bool, services: list[str]) -> dict:
    return {
        "id": name,
        "authenticationType": "Managed",
        "availabilityStatus": None,
        "isAdminManaged": True,
        "isDefault": default,
        "isInitial": initial,
        "isRoot": True,
        "isVerified": verified,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 2147483647,
        "state": None,
        "supportedServices": list(services),
    }


def verification_code(tenant_id: str, domain: str) -> str:
    """The ``MS=ms########`` text a tenant asks to see in DNS before it verifies ``domain``."""
    digest = int(hashlib.sha256(f"{tenant_id}/{domain.lower()}".encode()).hexdigest(), 16)
    return f"MS=ms{digest % 10**8:08d}"


def verification_records(tenant_id: str, domain: str) -> list[dict[str, Any]]:
    code = verification_code(tenant_id, domain)
    return [
        {"@odata.type": "#microsoft.graph.domainDnsTxtRecord", "id": _stable_uuid(tenant_id, domain, "txt"),
         "isOptional": False, "label": domain, "recordType": "Txt", "supportedService": "None", "ttl": 3600,
         "text": code},
        {"@odata.type": "#microsoft.graph.domainDnsMxRecord", "id": _stable_uuid(tenant_id, domain, "mx"),
         "isOptional": False, "label": domain, "recordType": "Mx", "supportedService": "None", "ttl": 3600,
         "mailExchange": f"{code[3:]}.msv1.invalid", "preference": 32767},
    ]


def service_records(tenant_id: str, domain: str, services: list[str]) -> list[dict[str, Any]]:
    """The DNS records a tenant asks for so that its services work for ``domain``."""
    out: list[dict[str, Any]] = []

    def rec(kind: str, supported: str, label: str, **extra: Any) -> None:
        out.append({"@odata.type": f"#microsoft.graph.domainDns{kind}Record",
                    "id": _stable_uuid(tenant_id, domain, kind, label, supported, str(extra.get("service", ""))),
                    "isOptional": False, "label": label, "recordType": kind, "supportedService": supported,
                    "ttl": 3600, **extra})

    if "Email" in services:
        rec("Mx", "Email", domain, mailExchange=f"{domain.replace('.', '-')}.mail.protection.outlook.com",
            preference=0)
        rec("Cname", "Email", f"autodiscover.{domain}", canonicalName="autodiscover.outlook.com")
        rec("Txt", "Email", domain, text="v=spf1 include:spf.protection.outlook.com -all")
    if "OfficeCommunicationsOnline" in services:
        rec("Cname", "OfficeCommunicationsOnline", f"sip.{domain}", canonicalName="sipdir.online.lync.com")
        rec("Cname", "OfficeCommunicationsOnline", f"lyncdiscover.{domain}",
            canonicalName="webdir.online.lync.com")
        rec("Srv", "OfficeCommunicationsOnline", domain, nameTarget="sipdir.online.lync.com", port=443,
            priority=100, protocol="_tls", service="_sip", weight=1)
        rec("Srv", "OfficeCommunicationsOnline", domain, nameTarget="sipfed.online.lync.com", port=5061,
            priority=100, protocol="_tcp", service="_sipfederationtls", weight=1)
    if "Intune" in services:
        rec("Cname", "Intune", f"enterpriseregistration.{domain}",
            canonicalName="enterpriseregistration.windows.net")
        rec("Cname", "Intune", f"enterpriseenrollment.{domain}",
            canonicalName="enterpriseenrollment.manage.microsoft.com")
    return out


# what a seeded person may carry beyond the keys below (the seed spells them in snake_case)
ATTRIBUTE_NAMES = ("companyName", "employeeId", "employeeType", "employeeHireDate", "streetAddress", "city", "state",
                   "postalCode", "country", "ageGroup", "consentProvidedForMinor")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _new_user(tenant: Tenant, spec: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    upn = spec["upn"]
    nickname = upn.split("@", 1)[0]
    domain = upn.split("@", 1)[1]
    uid = _stable_uuid(tenant.id, "user", upn.lower())
    off = set(spec.get("disabled_plans", []))  # service plans turned off for this person, by name
    mail = upn
    proxies = [f"SMTP:{mail}"]
    if domain != tenant.initial_domain:
        proxies.append(f"smtp:{nickname}@{tenant.initial_domain}")
    proxies += [f"smtp:{alias}" for alias in spec.get("aliases", [])]  # other addresses the person receives mail at
    attributes = {name: spec.get(_snake(name)) for name in ATTRIBUTE_NAMES}  # the person, as the seed says
    kind = spec.get("mailbox")  # shared, room or equipment: a mailbox without a person (its account disabled)
    if kind is not None and kind not in RESOURCE_KINDS:
        raise SeedError(f"{upn}: mailbox {kind!r} is not one of {', '.join(RESOURCE_KINDS)}")
    extra = {"mailboxType": kind, "accountEnabled": False, "place": dict(spec.get("place") or {}),
             "calendarProcessing": {**DEFAULT_PROCESSING, **(spec.get("booking") or {})}} if kind else {}
    return {
        **attributes,
        "id": uid,
        "accountEnabled": True,
        "businessPhones": [f"+31 20 {rnd.randint(100, 999)} {rnd.randint(1000, 9999)}"],
        "createdDateTime": tenant.created,
        "department": spec.get("department"),
        "displayName": spec["display_name"],
        "givenName": spec.get("given_name"),
        "jobTitle": spec.get("job_title"),
        "mail": mail,
        "mailNickname": nickname,
        "mobilePhone": None,
        "officeLocation": spec.get("office_location"),
        "preferredLanguage": spec.get("preferred_language", "en-US"),  # null: a person who never chose one
        "proxyAddresses": proxies,
        "surname": spec.get("surname"),
        "usageLocation": spec.get("usage_location"),
        "userPrincipalName": upn,
        "userType": "Member",
        "assignedLicenses": [{"disabledPlans": [pid for name, pid in SKU_CATALOG[p]["plans"] if name in off],
                              "skuId": SKU_CATALOG[p]["skuId"]} for p in spec.get("licenses", [])],
        **extra,
    }


def seed_photo(upn: str, size: int = 6000) -> bytes:
    """A person's photo as the seed has it: JPEG's markers around bytes derived from the UPN (a profile photo's
    contents are opaque to the runbook: it compares them by hash)."""
    body = hashlib.shake_256(upn.lower().encode()).digest(size)
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + body + b"\xff\xd9"


RESOURCE_KINDS = ("shared", "room", "equipment")
DEFAULT_PROCESSING = {"AutomateProcessing": "AutoAccept", "BookingWindowInDays": 180, "MaximumDurationInMinutes": 1440,
                      "AllowConflicts": False}


def guest_upn(mail: str, initial_domain: str) -> str:
    """A guest's UPN as Entra forms it: the address with ``_`` for ``@``, then ``#EXT#`` at the tenant's domain."""
    return f"{mail.replace('@', '_')}#EXT#@{initial_domain}"


def new_resource(tenant: Tenant, address: str, name: str, kind: str, alias: str | None = None) -> dict[str, Any]:
    """A shared, room or equipment mailbox as ``New-Mailbox`` makes one: a user whose account is disabled."""
    user = _new_user(tenant, {"upn": address, "display_name": name, "mailbox": kind},
                     random.Random(address))
    user["mailNickname"] = alias or user["mailNickname"]
    user["createdDateTime"] = now_iso()
    tenant.users[user["id"]] = user
    return user


def new_guest(tenant: Tenant, mail: str, display_name: str, state: str) -> dict[str, Any]:
    """A guest user, as an invitation makes one (``state``: PendingAcceptance until they redeem it)."""
    upn = guest_upn(mail, tenant.initial_domain)
    uid = _stable_uuid(tenant.id, "user", upn.lower())
    user = {**{name: None for name in ATTRIBUTE_NAMES}, "id": uid, "accountEnabled": True, "businessPhones": [],
            "createdDateTime": now_iso(), "displayName": display_name, "givenName": None, "mail": mail,
            "mailNickname": upn.split("@")[0], "mobilePhone": None, "proxyAddresses": [f"SMTP:{mail}"],
            "surname": None, "usageLocation": None, "userPrincipalName": upn, "userType": "Guest",
            "creationType": "Invitation", "externalUserState": state,
            "externalUserStateChangeDateTime": now_iso(), "assignedLicenses": []}
    tenant.users[uid] = user
    return user


def _seed_rights(tenant: Tenant, tspec: dict[str, Any]) -> None:
    """The seed's rights, once every user (the generated ones too) exists."""
    for spec in tspec.get("users", []):
        owner = tenant.find_user(spec["upn"])
        if owner is None:
            continue
        for upn in spec.get("full_access", []):
            if (user := tenant.find_user(upn)) is not None:
                tenant.mailbox_rights.setdefault(owner["id"], []).append({"user": user["id"], "automapping": True})
        for upn in spec.get("send_as", []):
            if (user := tenant.find_user(upn)) is not None:
                tenant.send_as.setdefault(owner["id"], []).append(user["id"])
        for upn in spec.get("send_on_behalf", []):
            if (user := tenant.find_user(upn)) is not None:
                owner.setdefault("grantSendOnBehalfTo", []).append(user["id"])


def _seed_managers(tenant: Tenant, tspec: dict[str, Any], gen: dict[str, Any], scale: float) -> None:
    """Each seeded person's manager (by UPN in the seed; the generated staff's by department)."""
    by_upn = {str(u["userPrincipalName"]).lower(): u for u in tenant.users.values()}
    for uspec in tspec.get("users", []):
        if uspec.get("manager"):
            by_upn[uspec["upn"].lower()]["manager"] = by_upn[str(uspec["manager"]).lower()]["id"]
    managers = gen.get("managers") or {}
    for user in tenant.users.values():
        if user.get("jobTitle") == "Staff" and managers.get(user.get("department")):
            user["manager"] = by_upn[str(managers[user["department"]]).lower()]["id"]


def _new_group(tenant: Tenant, spec: dict[str, Any], domain: str) -> dict[str, Any]:
    kind = spec.get("kind", "unified")
    nickname = spec["mail_nickname"]
    mail_enabled = kind in ("unified", "distribution")
    mail = f"{nickname}@{domain}" if mail_enabled else None
    return {
        "id": _stable_uuid(tenant.id, "group", nickname),
        "createdDateTime": tenant.created,
        "description": spec.get("description", f"{spec['display_name']} ({kind})"),
        "displayName": spec["display_name"],
        "groupTypes": ["Unified"] if kind == "unified" else [],
        "mail": mail,
        "mailEnabled": mail_enabled,
        "mailNickname": nickname,
        "proxyAddresses": [f"SMTP:{mail}"] if mail else [],
        "securityEnabled": kind == "security",
        "visibility": "Private" if kind == "unified" else None,
    }


def build_tenants(seed: dict[str, Any], scale: float, secrets_from_env: bool = True) -> dict[str, Tenant]:
    """Build the tenants from a seed spec; generated counts are multiplied by ``scale``."""
    tenants: dict[str, Tenant] = {}
    for tspec in seed["tenants"]:
        rnd = random.Random(tspec["key"])
        tid = tspec["id"]
        tenant = Tenant(id=tid, key=tspec["key"], display_name=tspec["display_name"],
                        initial_domain=tspec["initial_domain"], country=tspec.get("country", "US"),
                        created=now_iso())  # each (re)start is a new tenant, as a fresh sandbox is
        tenant.domains[tenant.initial_domain] = _domain_record(
            tenant.initial_domain, initial=True, default=not tspec.get("custom_domains"), verified=True,
            services=["Email", "OfficeCommunicationsOnline"])
        for dspec in tspec.get("custom_domains", []):
            tenant.domains[dspec["name"]] = _domain_record(
                dspec["name"], initial=False, default=bool(dspec.get("default")),
                verified=dspec.get("verified", True), services=dspec.get("services", ["Email"]))
            if dspec.get("public_website"):
                tenant.public_websites[dspec["name"]] = dspec["public_website"]
        for domain in tenant.domains.values():  # the password expiry policy the admin set (per domain in Graph)
            domain["passwordValidityPeriodInDays"] = tspec.get("password_validity_days", 2147483647)
            domain["passwordNotificationWindowInDays"] = tspec.get("password_notification_days", 14)
        for sku in tspec.get("skus", []):
            cat = SKU_CATALOG[sku["part"]]
            tenant.skus[cat["skuId"]] = {
                "id": f"{tid}_{cat['skuId']}",
                "accountId": tid,
                "accountName": tspec["display_name"],
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "prepaidUnits": {"enabled": int(sku["units"]), "lockedOut": 0, "suspended": 0, "warning": 0},
                "servicePlans": [{"appliesTo": "User", "provisioningStatus": "Success", "servicePlanId": pid,
                                  "servicePlanName": pname} for pname, pid in cat["plans"]],
                "skuId": cat["skuId"],
                "skuPartNumber": sku["part"],
                "subscriptionIds": [_stable_uuid(tid, "subscription", sku["part"])],
            }
        for aspec in tspec.get("apps", []):
            secret = os.environ.get(aspec.get("secret_env", "")) if secrets_from_env else None
            tenant.apps[aspec["client_id"]] = App(
                client_id=aspec["client_id"], display_name=aspec["display_name"], tenant_id=tid,
                roles=list(aspec.get("roles", [])), delegated=list(aspec.get("delegated", [])),
                secret=secret or aspec.get("secret"),
                identifier_uris=list(aspec.get("identifier_uris", [])),
                multitenant=bool(aspec.get("multitenant", False)))
        for uspec in tspec.get("users", []):
            user = _new_user(tenant, uspec, rnd)
            tenant.users[user["id"]] = user
            if uspec.get("admin"):  # the tenant's first admin holds the Global Administrator role
                tenant.roles[user["id"]] = ["Global Administrator"]
            if uspec.get("photo"):
                tenant.photos[user["id"]] = seed_photo(upn=user["userPrincipalName"])
        gen = tspec.get("generated") or {}
        for i in range(int(round(gen.get("users", 0) * scale))):
            given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // len(GIVEN)) % len(FAMILY)]
            nick = f"{given}.{family}{i // (len(GIVEN) * len(FAMILY)) or ''}".lower()
            department = DEPARTMENTS[i % len(DEPARTMENTS)]
            user = _new_user(tenant, {
                "upn": f"{nick}@{gen['user_domain']}", "display_name": f"{given} {family}",
                "given_name": given, "surname": family, "job_title": "Staff", "department": department,
                "usage_location": gen.get("usage_location"), "employee_id": f"E{1100 + i}", "employee_type": "Employee",
                "company_name": gen.get("company_name"), "city": gen.get("city"), "country": gen.get("usage_location"),
                "licenses": [gen["user_license"]] if gen.get("user_license") else []}, rnd)
            tenant.users[user["id"]] = user
        _seed_managers(tenant, tspec, gen, scale)
        default_domain = next((d for d, v in tenant.domains.items() if v["isDefault"]), tenant.initial_domain)
        all_user_ids = list(tenant.users)
        group_specs = list(tspec.get("groups", []))
        for i in range(int(round(gen.get("groups", 0) * scale))):
            group_specs.append({"display_name": f"Project {i + 1:03d}", "mail_nickname": f"project{i + 1:03d}",
                                "kind": "unified", "members": f"random:{gen.get('members_per_group', 5)}"})
        for gspec in group_specs:
            group = _new_group(tenant, gspec, default_domain)
            tenant.groups[group["id"]] = group
            members = gspec.get("members", [])
            if members == "all":
                ids = list(all_user_ids)
            elif isinstance(members, str) and members.startswith("random:"):
                ids = rnd.sample(all_user_ids, min(int(members.split(":")[1]), len(all_user_ids)))
            else:
                ids = [u["id"] for m in members if (u := tenant.find_user(m))]
            tenant.members[group["id"]] = ids
            tenant.owners[group["id"]] = [u["id"] for m in gspec.get("owners", []) if (u := tenant.find_user(m))]
            delivery = {"RequireSenderAuthenticationEnabled": not gspec["allow_external_senders"]} \
                if "allow_external_senders" in gspec else {}
            if "auto_subscribe_new_members" in gspec:
                delivery["AutoSubscribeNewMembers"] = bool(gspec["auto_subscribe_new_members"])
            if delivery:
                tenant.group_delivery[group["id"]] = delivery
        for rspec in tspec.get("resources", []):  # rooms and equipment: after the groups' draw of members
            resource = _new_user(tenant, rspec, rnd)
            tenant.users[resource["id"]] = resource
        _seed_rights(tenant, tspec)
        for gspec_ in tspec.get("guests", []):  # people of other organisations, invited: after the groups' draw
            guest = new_guest(tenant, gspec_["mail"], gspec_.get("display_name", gspec_["mail"]),
                              gspec_.get("state", "Accepted"))
            for nick in gspec_.get("groups", []):
                group = next((g for g in tenant.groups.values() if g["mailNickname"] == nick), None)
                if group is not None:
                    tenant.members[group["id"]].append(guest["id"])
        tenants[tid] = tenant
    return tenants


TENANT_KEYS = {"key", "id", "display_name", "initial_domain", "country", "custom_domains", "skus", "apps", "users",
               "groups", "generated", "mailboxes", "drives", "onedrive", "no_onedrive", "sites", "lists", "notebooks",
               "password_validity_days", "password_notification_days", "guests", "resources", "teams", "chats", "devices"}


ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Domain Name Administrator": "8329153b-31d0-4727-b945-745eb3bc5f31",
}


class SeedError(ValueError):
    pass


def load_seed(path: Path | None = None) -> dict[str, Any]:
    """Read and check a seed spec: a clear message for a key the sandbox does not know."""
    source = path or DEFAULT_SEED
    with open(source, encoding="utf-8") as fh:
        seed = yaml.safe_load(fh)
    if not isinstance(seed, dict) or not isinstance(seed.get("tenants"), list):
        raise SeedError(f"{source}: a seed spec is a mapping with a 'tenants' list")
    for i, tenant in enumerate(seed["tenants"]):
        unknown = set(tenant) - TENANT_KEYS
        if unknown:
            raise SeedError(f"{source}: tenants[{i}] has unknown key(s) {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(sorted(TENANT_KEYS))}")
        for required in ("key", "id", "display_name", "initial_domain"):
            if required not in tenant:
                raise SeedError(f"{source}: tenants[{i}] lacks '{required}'")
    return seed


class Store:
    """Every tenant behind one lock; Graph handlers read and write through it."""

    def __init__(self, seed: dict[str, Any], scale: float = 1.0) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.scale = scale
        self.tenants = build_tenants(seed, scale)

    def reset(self, scale: float | None = None) -> None:
        with self.lock:
            if scale is not None:
                self.scale = scale
            old_apps = {t.id: t.apps for t in self.tenants.values()}
            self.tenants = build_tenants(self.seed, self.scale)
            for tid, apps in old_apps.items():  # the seed again, but registered credentials stay registered
                tenant = self.tenants.get(tid)
                for client_id, app in apps.items():
                    fresh = tenant.apps.get(client_id) if tenant else None
                    if fresh is not None:
                        fresh.secret, fresh.certificates = app.secret, app.certificates

    def tenant_by_name(self, name: str) -> Tenant | None:
        name_l = name.lower()
        with self.lock:
            for tenant in self.tenants.values():
                if name_l in tenant.names():
                    return tenant
        return None

    def snapshot(self, obj: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(obj)
