"""Tenant settings Graph v1.0 exposes, as the sandbox keeps them: SharePoint's tenant settings
(``admin/sharepoint/settings``), the authorisation and authentication-methods policies, conditional-access
named locations and policies; the organisation profile, branding and group settings (:mod:`.orgsettings`);
the Teams policies in effect per user (:mod:`.teams`).
The two seeded tenants differ (a new tenant has Microsoft's defaults; the old one was configured over the
years). Conditional access answers about one request a second per tenant: faster gets 429 with Retry-After."""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote

from . import orgsettings, teams, temporary_pass
from .http import Request, Response
from .knobs import Governor
from .shapes import GraphFailure
from .state import Store, Tenant, now_iso

TAP_CONFIG = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass"
TAP_METHODS = re.compile(r"^users/([^/]+)/authentication/temporaryAccessPassMethods(?:/([^/]+))?$")
OBJECTS = {"admin/sharepoint/settings": "sharepoint", "policies/authorizationPolicy": "authorization",
           "policies/authenticationMethodsPolicy": "authenticationMethods", "admin/reportSettings": "reportSettings",
           TAP_CONFIG: "temporaryAccessPass",
           "admin/people/pronouns": "pronouns",
           "policies/identitySecurityDefaultsEnforcementPolicy": "securityDefaults"}  # one object each: GET, PATCH
ROUTES = (*OBJECTS, "identity/conditionalAccess/", "admin/teams/userConfigurations")
READ = {"sharepoint": {"SharePointTenantSettings.Read.All", "SharePointTenantSettings.ReadWrite.All"},
        "authorization": {"Policy.Read.All", "Policy.ReadWrite.Authorization"},
        "authenticationMethods": {"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"},
        "temporaryAccessPass": {"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"},
        "reportSettings": {"ReportSettings.Read.All", "ReportSettings.ReadWrite.All"},
        "pronouns": {"PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All"},
        "securityDefaults": {"Policy.Read.All", "Policy.ReadWrite.SecurityDefaults", "Policy.ReadWrite.ConditionalAccess"},
        "ca": {"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"}}
WRITE = {"sharepoint": {"SharePointTenantSettings.ReadWrite.All"},
         "authorization": {"Policy.ReadWrite.Authorization"},
         "authenticationMethods": {"Policy.ReadWrite.AuthenticationMethod"},
         "temporaryAccessPass": {"Policy.ReadWrite.AuthenticationMethod"},
         "reportSettings": {"ReportSettings.ReadWrite.All"}, "pronouns": {"PeopleSettings.ReadWrite.All"},
         "securityDefaults": {"Policy.ReadWrite.SecurityDefaults", "Policy.ReadWrite.ConditionalAccess"},
         "ca": {"Policy.ReadWrite.ConditionalAccess"}}
CA_STATES = {"enabled", "disabled", "enabledForReportingButNotEnforced"}

DEFAULTS = {  # a new tenant: Microsoft's defaults
    "sharepoint": {"sharingCapability": "externalUserAndGuestSharing", "isResharingByExternalUsersEnabled": True,
                   "deletedUserPersonalSiteRetentionPeriodInDays": 30, "isLoopEnabled": True,
                   "isSiteCreationEnabled": True, "personalSiteDefaultStorageLimitInMB": 1048576,
                   "isLegacyAuthProtocolsEnabled": True},
    "authorization": {"id": "authorizationPolicy", "displayName": "Authorization Policy",
                      "allowInvitesFrom": "everyone", "allowedToSignUpEmailBasedSubscriptions": True,
                      "allowEmailVerifiedUsersToJoinOrganization": True, "blockMsolPowerShell": False,
                      "defaultUserRolePermissions": {"allowedToCreateApps": True, "allowedToCreateSecurityGroups": True,
                                                     "allowedToReadOtherUsers": True}},
    "authenticationMethods": {"id": "authenticationMethodsPolicy", "displayName": "Authentication Methods Policy",
                              "policyMigrationState": "preMigration",
                              "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                                  "state": "default", "snoozeDurationInDays": 1}},
                              "systemCredentialPreferences": {"state": "default"},
                              "reportSuspiciousActivitySettings": {"state": "default", "voiceReportingCode": 0}},
    # the Temporary Access Pass method: off in a new tenant (its limits are the service's defaults)
    "temporaryAccessPass": {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
                            "id": "TemporaryAccessPass", "state": "disabled", "defaultLifetimeInMinutes": 60,
                            "defaultLength": 8, "minimumLifetimeInMinutes": 60, "maximumLifetimeInMinutes": 480,
                            "isUsableOnce": False, "excludeTargets": [],
                            "includeTargets": [{"targetType": "group", "id": "all_users",
                                                "isRegistrationRequired": False}]},
    "reportSettings": {"displayConcealedNames": True},
    "pronouns": {"isEnabledInOrganization": False},
    "securityDefaults": {"id": "00000000-0000-0000-0000-000000000005", "displayName": "Security Defaults",
                         "description": "Security defaults is a set of basic identity security mechanisms "
                                        "recommended by Microsoft.", "isEnabled": True},  # on in a new tenant
}
CONFIGURED = {  # the old tenant, tightened over the years (links for anyone still allowed: people use them)
    "sharepoint": {"sharingCapability": "externalUserAndGuestSharing", "isResharingByExternalUsersEnabled": False,
                   "deletedUserPersonalSiteRetentionPeriodInDays": 365, "isLoopEnabled": True,
                   "isSiteCreationEnabled": False, "personalSiteDefaultStorageLimitInMB": 1048576,
                   "isLegacyAuthProtocolsEnabled": False},
    "authorization": {"allowInvitesFrom": "adminsAndGuestInviters", "allowedToSignUpEmailBasedSubscriptions": False,
                      "allowEmailVerifiedUsersToJoinOrganization": False, "blockMsolPowerShell": True,
                      "defaultUserRolePermissions": {"allowedToCreateApps": False, "allowedToCreateSecurityGroups": False,
                                                     "allowedToReadOtherUsers": True}},
    "authenticationMethods": {"policyMigrationState": "migrationComplete",
                              "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                                  "state": "enabled", "snoozeDurationInDays": 3}},
                              "systemCredentialPreferences": {"state": "enabled"},
                              "reportSuspiciousActivitySettings": {"state": "enabled", "voiceReportingCode": 0}},
    "temporaryAccessPass": {"state": "enabled", "maximumLifetimeInMinutes": 1440, "defaultLifetimeInMinutes": 480,
                            "isUsableOnce": True},  # the old tenant onboards people with one-time passes
    "reportSettings": {"displayConcealedNames": False},
    "pronouns": {"isEnabledInOrganization": True},
    "securityDefaults": {"isEnabled": False},  # off: the old tenant protects itself with conditional access
}


def owns(rest: str, method: str = "GET") -> bool:
    """Whether these settings answer ``rest`` (``GET organization`` itself is the directory's)."""
    return rest.startswith(ROUTES) or bool(TAP_METHODS.match(rest)) or \
        (orgsettings.owns(rest) and not (rest == "organization" and method == "GET"))


class SettingsApi:
    def __init__(self, store: Store, governor: Governor, stats: Any) -> None:
        self.store, self.governor, self.count = store, governor, stats
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.tenants: dict[str, dict[str, Any]] = {}
        self.last_ca: dict[str, float] = {}
        for tenant in self.store.tenants.values():
            state: dict[str, Any] = {k: copy.deepcopy(v) for k, v in DEFAULTS.items()}
            state["locations"], state["policies"] = {}, {}
            if tenant.key == "old":
                for area, values in CONFIGURED.items():
                    state[area].update(copy.deepcopy(values))
                self._seed_conditional_access(tenant, state)
            elif tenant.key == "fabrikam":  # the merge's second old tenant: a policy named like Contoso's, and one
                self._seed_second_access(tenant, state)  # for all users (it would cover Contoso's people too)
            self.tenants[tenant.id] = state
        self.org = orgsettings.OrgSettings({t.id: orgsettings.seed(t) for t in self.store.tenants.values()})
        self.teams = teams.TeamsAdmin({t.id: teams.seed(t) for t in self.store.tenants.values()})
        self.passes = temporary_pass.Passes(self.count)

    @staticmethod
    def _seed_conditional_access(tenant: Tenant, state: dict[str, Any]) -> None:
        office = {"@odata.type": "#microsoft.graph.ipNamedLocation", "id": str(uuid.uuid4()),
                  "displayName": "Head office", "isTrusted": True, "createdDateTime": "2022-03-01T09:00:00Z",
                  "modifiedDateTime": "2022-03-01T09:00:00Z",
                  "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "203.0.113.0/24"}]}
        state["locations"][office["id"]] = office
        admin = next(u for u in tenant.users.values() if u["userPrincipalName"].startswith("admin@"))
        sales = next((g for g in tenant.groups.values() if g.get("mailNickname") == "sales"), None)
        policies = [
            {"displayName": "Require MFA for administrators", "state": "enabled",
             "conditions": {"users": {"includeUsers": [admin["id"]], "excludeUsers": [], "includeGroups": [],
                                      "excludeGroups": []},
                            "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
             "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}},
            {"displayName": "Sales: block outside the office", "state": "enabledForReportingButNotEnforced",
             "conditions": {"users": {"includeUsers": [], "excludeUsers": [],
                                      "includeGroups": [sales["id"]] if sales else [], "excludeGroups": []},
                            "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"],
                            "locations": {"includeLocations": ["All"], "excludeLocations": [office["id"]]}},
             "grantControls": {"operator": "OR", "builtInControls": ["block"]}},
        ]
        for p in policies:
            p.update(id=str(uuid.uuid4()), createdDateTime="2023-05-01T09:00:00Z", modifiedDateTime="2023-05-01T09:00:00Z")
            state["policies"][p["id"]] = p

    @staticmethod
    def _seed_second_access(tenant: Tenant, state: dict[str, Any]) -> None:
        buyers = next(g for g in tenant.groups.values() if g.get("mailNickname") == "purchasing")  # they approve spend
        policies = [
            {"displayName": "Require MFA for administrators", "state": "enabled",
             "conditions": {"users": {"includeUsers": [], "excludeUsers": [], "includeGroups": [buyers["id"]],
                                      "excludeGroups": []},
                            "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
             "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}},
            {"displayName": "Everyone: require MFA", "state": "enabledForReportingButNotEnforced",
             "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [], "includeGroups": [],
                                      "excludeGroups": []},
                            "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]},
             "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}},
        ]
        for p in policies:
            p.update(id=str(uuid.uuid4()), createdDateTime="2024-02-01T09:00:00Z", modifiedDateTime="2024-02-01T09:00:00Z")
            state["policies"][p["id"]] = p

    def mounts(self, rest: str, method: str) -> bool:
        return owns(rest.split("?", 1)[0], method)

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        with self.store.lock:
            return self.handle(req, rest.split("?", 1)[0], tenant, claims)

    def handle(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        granted = set(claims.get("roles", [])) | set(str(claims.get("scp", "")).split())
        if orgsettings.owns(rest):
            return self.org.handle(req, rest, tenant, granted)
        if rest.startswith("admin/teams/userConfigurations"):
            return Response(200, self.teams.user_configurations(tenant, granted, rest))
        methods = TAP_METHODS.match(rest)
        if methods:
            return self.passes.handle(req.method, unquote(methods.group(1)), methods.group(2), req.json() if req.body else {},
                                      tenant, granted, self.tenants[tenant.id]["temporaryAccessPass"])
        return self.call(req.method, rest, req.json() if req.body else None, tenant, granted)

    def call(self, method: str, rest: str, body: Any, tenant: Tenant, granted: set[str]) -> Response:
        area = OBJECTS.get(rest, "ca")
        if not granted & (READ[area] if method == "GET" else WRITE[area]):
            raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        state = self.tenants[tenant.id]
        if area == "ca":
            self._pace(tenant)
            return self._conditional_access(method, rest, body or {}, state)
        if method == "PATCH":
            if area == "temporaryAccessPass":
                temporary_pass.check_policy({**state[area], **(body or {})})
            for key, value in (body or {}).items():
                if key not in state[area] or key == "id":
                    raise GraphFailure(400, "BadRequest", f"Property '{key}' does not exist or cannot be set on "
                                                          f"the {area} settings.")
                if isinstance(state[area][key], dict) and isinstance(value, dict):
                    state[area][key].update(value)
                else:
                    state[area][key] = value
            return Response(204)
        return Response(200, copy.deepcopy(state[area]))

    def _pace(self, tenant: Tenant) -> None:
        """Conditional access: about one request a second per tenant."""
        rate = self.governor.knobs.ca_requests_per_second
        with self.lock:
            now = time.monotonic()
            if rate and now - self.last_ca.get(tenant.id, 0.0) < 1.0 / rate:
                self.count("throttled")
                raise GraphFailure(429, "TooManyRequests", "Too many requests to conditional access for this tenant.",
                                   {"Retry-After": "1"})
            self.last_ca[tenant.id] = now

    def _conditional_access(self, method: str, rest: str, body: dict[str, Any], state: dict[str, Any]) -> Response:
        parts = rest.split("/")[2:]  # namedLocations | policies [, id]
        store = state["locations"] if parts[0] == "namedLocations" else state["policies"]
        if parts[0] not in ("namedLocations", "policies"):
            raise GraphFailure(400, "BadRequest", f"The sandbox does not serve {rest}.")
        if len(parts) == 1 and method == "GET":
            return Response(200, {"value": [copy.deepcopy(v) for v in store.values()]})
        if len(parts) == 1 and method == "POST":
            if not body.get("displayName"):
                raise GraphFailure(400, "BadRequest", "displayName is required.")
            if parts[0] == "policies":
                if body.get("state") not in CA_STATES:
                    raise GraphFailure(400, "BadRequest", f"state must be one of {sorted(CA_STATES)}.")
                self._check_references(body, state)
            made = dict(copy.deepcopy(body), id=str(uuid.uuid4()), createdDateTime=now_iso(), modifiedDateTime=now_iso())
            store[made["id"]] = made
            return Response(201, copy.deepcopy(made))
        item = store.get(parts[1]) if len(parts) == 2 else None
        if item is None:
            raise GraphFailure(404, "ResourceNotFound", "The conditional access item was not found.")
        if method == "PATCH":
            if "state" in body and body["state"] not in CA_STATES:
                raise GraphFailure(400, "BadRequest", f"state must be one of {sorted(CA_STATES)}.")
            item.update(copy.deepcopy(body), modifiedDateTime=now_iso())
            return Response(204)
        return Response(200, copy.deepcopy(item))

    def _check_references(self, body: dict[str, Any], state: dict[str, Any]) -> None:
        """A policy naming a user, group or location the tenant does not have is refused, as the service does."""
        tenant = next(t for t in self.store.tenants.values() if self.tenants[t.id] is state)
        users = (body.get("conditions") or {}).get("users") or {}
        for key in ("includeUsers", "excludeUsers"):
            for uid in users.get(key) or []:
                if uid not in ("All", "None", "GuestsOrExternalUsers") and uid not in tenant.users:
                    raise GraphFailure(400, "BadRequest", f"User '{uid}' in {key} does not exist in this tenant.")
        for key in ("includeGroups", "excludeGroups"):
            for gid in users.get(key) or []:
                if gid not in tenant.groups:
                    raise GraphFailure(400, "BadRequest", f"Group '{gid}' in {key} does not exist in this tenant.")
        locations = (body.get("conditions") or {}).get("locations") or {}
        for key in ("includeLocations", "excludeLocations"):
            for lid in locations.get(key) or []:
                if lid not in ("All", "AllTrusted") and lid not in state["locations"]:
                    raise GraphFailure(400, "BadRequest", f"Location '{lid}' in {key} does not exist in this tenant.")
