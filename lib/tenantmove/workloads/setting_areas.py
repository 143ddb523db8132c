"""The areas of tenant settings Graph v1.0 can read and write, each as flat ``setting -> value`` pairs in the
new tenant's terms (a group named by id is the new tenant's group; a domain is the new tenant's domain), so
that the two sides compare directly and a value read from the old tenant can be written to the new one.

- ``sharepoint``, ``authorization``, ``authenticationMethods``, ``temporaryAccessPass``, ``reportSettings``, ``pronouns``,
  ``securityDefaults``: one object each, read with GET, set with PATCH;
- ``organization``: the profile's notification addresses and privacy profile (its address and phone are shown
  but are read-only in Graph);
- ``branding``: the default sign-in branding's texts and images (images compared by SHA-256, carried as bytes)
  and its localizations. A tenant without branding has none until a first localization is created;
- ``groupSettings``: the tenant-wide ``Group.Unified`` settings (who may create Microsoft 365 groups, guests,
  naming), the allowed creators' group mapped to the new tenant's;
- ``domains``: password expiry per domain. The custom domain has left the old tenant by phase 40, so the old
  values are the ones phase 00 captured (:func:`capture_domains`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphError, path
from .inventory import Inventory

DOMAIN_POLICY = "domain-password-policy.json"  # in the state folder: each domain's values when last seen
PASSWORD_PROPS = ("passwordValidityPeriodInDays", "passwordNotificationWindowInDays")
GROUP_UNIFIED = "62375ab9-6b52-47ed-826b-58e47e0e304b"


@dataclass
class Sides:
    """Both tenants, and what maps the old tenant's names to the new one's."""

    old: GraphClient
    new: GraphClient
    groups: dict[str, str] = field(default_factory=dict)  # old group id -> new group id
    group_names: dict[str, str] = field(default_factory=dict)  # old group id -> its name
    domains: dict[str, str] = field(default_factory=dict)  # old domain -> new domain
    captured: dict[str, dict[str, Any]] = field(default_factory=dict)  # old domain -> its password values
    _org: dict[str, str] = field(default_factory=dict)

    def org_id(self, side: str) -> str:
        if side not in self._org:
            self._org[side] = str(self.client(side).get("organization", {"$select": "id"})["value"][0]["id"])
        return self._org[side]

    def client(self, side: str) -> GraphClient:
        return self.old if side == "old" else self.new


class Area:
    name = ""
    title = ""
    where = ""  # the admin centre page, for what Graph cannot write
    read_only: tuple[str, ...] = ()

    def __init__(self, sides: Sides) -> None:
        self.sides = sides

    def values(self, side: str) -> dict[str, Any]:
        raise NotImplementedError

    def write(self, setting: str, value: Any) -> None:
        raise NotImplementedError

    def shown(self, setting: str, value: Any) -> str:
        """The value as the side-by-side table shows it."""
        return json.dumps(value)


class ObjectArea(Area):
    """One settings object at ``path``: GET it, PATCH one property."""

    def __init__(self, sides: Sides, name: str, title: str, path_: str, settings: tuple[str, ...]) -> None:
        super().__init__(sides)
        self.name, self.title, self.path, self.settings = name, title, path_, settings

    def values(self, side: str) -> dict[str, Any]:
        body = self.sides.client(side).get(self.path)
        return {k: body.get(k) for k in self.settings}

    def write(self, setting: str, value: Any) -> None:
        self.sides.new.patch(self.path, {setting: value})


class TemporaryAccessPass(ObjectArea):
    """The Temporary Access Pass method's configuration: a PATCH names its type (Graph asks it of an
    authenticationMethodConfiguration), and the lifetimes go together (each must stay between the others)."""

    ODATA = "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration"

    def write(self, setting: str, value: Any) -> None:
        body = {"@odata.type": self.ODATA, setting: value}
        if setting.endswith("LifetimeInMinutes"):
            body.update({k: v for k, v in self.values("old").items() if k.endswith("LifetimeInMinutes")})
        self.sides.new.patch(self.path, body)


class Organization(Area):
    name, title = "organization", "organisation profile"
    where = "Microsoft 365 admin centre > Settings > Org settings > Organization profile"
    settings = ("technicalNotificationMails", "securityComplianceNotificationMails",
                "securityComplianceNotificationPhones", "marketingNotificationEmails", "privacyProfile")
    read_only = ("street", "city", "postalCode", "state", "country", "businessPhones")

    def values(self, side: str) -> dict[str, Any]:
        org = self.sides.client(side).get("organization", {"$select": ",".join(("id", *self.settings,
                                                                                   *self.read_only))})["value"][0]
        return {k: org.get(k) for k in (*self.settings, *self.read_only)}

    def write(self, setting: str, value: Any) -> None:
        self.sides.new.patch(path("organization", self.sides.org_id("new")), {setting: value})


BRANDING_TEXTS = ("backgroundColor", "headerBackgroundColor", "signInPageText", "usernameHintText",
                  "customPrivacyAndCookiesText", "customPrivacyAndCookiesUrl", "customTermsOfUseText",
                  "customTermsOfUseUrl", "customCannotAccessYourAccountUrl", "customForgotMyPasswordText",
                  "customResetItNowText")
BRANDING_IMAGES = ("bannerLogo", "squareLogo", "squareLogoDark", "backgroundImage", "favicon", "headerLogo")
DEFAULT_LOCALE = {"Accept-Language": "0"}


class Branding(Area):
    name, title = "branding", "company branding (sign-in page)"
    where = "Entra admin centre > Company branding"

    def _base(self, side: str) -> str:
        return path("organization", self.sides.org_id(side), "branding")

    def _localizations(self, side: str) -> list[dict[str, Any]]:
        return self.sides.client(side).get(self._base(side) + "/localizations").get("value", [])

    def image(self, side: str, locale: str, image: str) -> bytes:
        resp = self.sides.client(side).request("GET", f"{self._base(side)}/localizations/{locale}/{image}")
        return resp.content

    def values(self, side: str) -> dict[str, Any]:
        found = {str(x["id"]): x for x in self._localizations(side)}
        default = found.get("0") or {}
        out: dict[str, Any] = {}
        for locale, body in sorted(found.items()):  # first: the first one made brings the default branding
            if locale != "0":
                out[f"localization {locale}"] = {k: body.get(k) for k in BRANDING_TEXTS if body.get(k) is not None}
        out.update({k: default.get(k) for k in BRANDING_TEXTS})
        for image in BRANDING_IMAGES:
            data = self.image(side, "0", image) if default.get(f"{image}RelativeUrl") else b""
            out[image] = f"sha256:{hashlib.sha256(data).hexdigest()[:16]} ({len(data)} bytes)" if data else None
        return out

    def write(self, setting: str, value: Any) -> None:
        new = self.sides.new
        if setting.startswith("localization "):
            locale = setting.split(" ", 1)[1]
            if any(str(x["id"]) == locale for x in self._localizations("new")):
                new.patch(f"{self._base('new')}/localizations/{locale}", value)
            else:  # creates the default branding too, the first time
                new.post(f"{self._base('new')}/localizations", {"id": locale, **value}, idempotent=False)
            return
        if not any(str(x["id"]) == "0" for x in self._localizations("new")):
            first = next((x for x in self._localizations("old") if str(x["id"]) != "0"), None)
            if first is not None:  # the old tenant's first language brings the default branding with it
                self.write(f"localization {first['id']}", {k: first[k] for k in BRANDING_TEXTS
                                                            if first.get(k) is not None})
                return self.write(setting, value)
            raise TenantmoveError("the new tenant has no company branding yet, and Graph creates the default branding "
                                  "only together with a first language",
                                  hint="create the default sign-in experience under Entra admin centre > Company "
                                       "branding, then rerun phase 40")
        if setting in BRANDING_IMAGES:
            data = self.image("old", "0", setting) if value else b""
            new.request("PUT", f"{self._base('new')}/localizations/0/{setting}", data=data,
                        headers={"Content-Type": "image/png"})
        else:
            new.request("PATCH", self._base("new"), json={setting: value}, headers=DEFAULT_LOCALE)


class GroupSettings(Area):
    name, title = "groupSettings", "Microsoft 365 group settings"
    where = "Entra admin centre > Groups > General"

    def _setting(self, side: str) -> dict[str, Any] | None:
        found = self.sides.client(side).get("groupSettings").get("value", [])
        return next((s for s in found if s.get("templateId") == GROUP_UNIFIED), None)

    def _template(self, side: str) -> dict[str, str]:
        template = self.sides.client(side).get(path("groupSettingTemplates", GROUP_UNIFIED))
        return {v["name"]: v.get("defaultValue") for v in template.get("values", [])}

    def values(self, side: str) -> dict[str, Any]:
        setting = self._setting(side)
        values = self._template(side) if setting is None else {v["name"]: v["value"] for v in setting["values"]}
        allowed = values.get("GroupCreationAllowedGroupId")
        if side == "old" and allowed:
            if allowed not in self.sides.groups:
                values["GroupCreationAllowedGroupId"] = f"unmapped group {self.sides.group_names.get(allowed, allowed)}"
            else:
                values["GroupCreationAllowedGroupId"] = self.sides.groups[allowed]
        return values

    def shown(self, setting: str, value: Any) -> str:
        if setting == "GroupCreationAllowedGroupId" and value in self.sides.groups.values():
            name = next((self.sides.group_names.get(o) for o, n in self.sides.groups.items() if n == value), None)
            return json.dumps(f"{name} ({value})" if name else value)
        return super().shown(setting, value)

    def write(self, setting: str, value: Any) -> None:
        if str(value).startswith("unmapped group "):
            raise TenantmoveError(f"GroupCreationAllowedGroupId names the {value[9:]}, which has no copy in the new "
                                  "tenant", hint="move that group (phase 30) or change the setting in the old tenant, "
                                                 "then rerun phase 40")
        current = self._setting("new")
        body = {"values": [{"name": setting, "value": "" if value is None else str(value)}]}
        if current is None:
            self.sides.new.post("groupSettings", {"templateId": GROUP_UNIFIED, **body}, idempotent=False)
        else:
            self.sides.new.patch(path("groupSettings", current["id"]),
                                 {"values": [v if v["name"] != setting else body["values"][0]
                                             for v in current["values"]]})


class Domains(Area):
    name, title = "domains", "password expiry (per domain)"
    where = "Microsoft 365 admin centre > Settings > Org settings > Security & privacy > Password expiration policy"

    def values(self, side: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if side == "old":
            for old, new in self.sides.domains.items():
                for prop in PASSWORD_PROPS:
                    out[f"{new}: {prop}"] = (self.sides.captured.get(old) or {}).get(prop)
            return out
        for new in self.sides.domains.values():
            try:
                domain = self.sides.new.get(path("domains", new), expected=(404,))
            except GraphError as exc:
                if exc.status != 404:
                    raise
                domain = {}
            for prop in PASSWORD_PROPS:
                out[f"{new}: {prop}"] = domain.get(prop)
        return out

    def write(self, setting: str, value: Any) -> None:
        domain, prop = setting.split(": ", 1)
        self.sides.new.patch(path("domains", domain), {prop: value})


def areas(sides: Sides) -> dict[str, Area]:
    made: list[Area] = [
        ObjectArea(sides, "sharepoint", "SharePoint tenant settings", "admin/sharepoint/settings",
                   ("sharingCapability", "isResharingByExternalUsersEnabled",
                    "deletedUserPersonalSiteRetentionPeriodInDays", "isLoopEnabled", "isSiteCreationEnabled",
                    "personalSiteDefaultStorageLimitInMB", "isLegacyAuthProtocolsEnabled")),
        ObjectArea(sides, "authorization", "authorisation policy", "policies/authorizationPolicy",
                   ("allowInvitesFrom", "allowedToSignUpEmailBasedSubscriptions",
                    "allowEmailVerifiedUsersToJoinOrganization", "blockMsolPowerShell", "defaultUserRolePermissions")),
        ObjectArea(sides, "authenticationMethods", "authentication-methods policy",
                   "policies/authenticationMethodsPolicy",
                   ("policyMigrationState", "registrationEnforcement", "systemCredentialPreferences",
                    "reportSuspiciousActivitySettings")),
        TemporaryAccessPass(sides, "temporaryAccessPass", "Temporary Access Pass policy",
                            "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass",
                            ("state", "defaultLifetimeInMinutes", "defaultLength", "minimumLifetimeInMinutes",
                             "maximumLifetimeInMinutes", "isUsableOnce")),
        ObjectArea(sides, "reportSettings", "Microsoft 365 reports (concealed names)", "admin/reportSettings",
                   ("displayConcealedNames",)),
        ObjectArea(sides, "pronouns", "pronouns on profiles", "admin/people/pronouns", ("isEnabledInOrganization",)),
        ObjectArea(sides, "securityDefaults", "security defaults", "policies/identitySecurityDefaultsEnforcementPolicy",
                   ("isEnabled",)),
        Organization(sides), Branding(sides), GroupSettings(sides), Domains(sides),
    ]
    return {a.name: a for a in made}


def capture_domains(state_dir: Path, inv: Inventory) -> dict[str, dict[str, Any]]:
    """Keep each domain's password expiry as phase 00 sees it, merged with what earlier runs saw: a domain that
    has left the tenant since (the custom domain, after phase 20) keeps its last values."""
    kept = captured_domains(state_dir)
    for domain in inv.raw.get("domains", []):
        kept[str(domain["id"]).lower()] = {p: domain.get(p) for p in PASSWORD_PROPS} | {
            "initial": bool(domain.get("isInitial"))}
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / DOMAIN_POLICY).write_text(json.dumps(kept, indent=1, sort_keys=True))
    return kept


def captured_domains(state_dir: Path) -> dict[str, dict[str, Any]]:
    """What :func:`capture_domains` kept (empty before phase 00 ran)."""
    file = state_dir / DOMAIN_POLICY
    loaded: dict[str, dict[str, Any]] = json.loads(file.read_text()) if file.is_file() else {}
    return loaded


def domain_map(captured: dict[str, dict[str, Any]], new_initial: str, moving: str | list[str]) -> dict[str, str]:
    """Old domain -> new domain: the initial domain to the new initial one, each moving custom domain to itself."""
    out = {d: new_initial for d, v in captured.items() if v.get("initial")}
    for domain in [moving] if isinstance(moving, str) else moving:
        if domain.lower() in captured:
            out[domain.lower()] = domain.lower()
    return out
