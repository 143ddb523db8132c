"""The organisation's own settings as Graph v1.0 serves them: the writable part of the organisation profile
(``PATCH organization/{id}``), the company branding (``organization/{id}/branding``: the default branding with
``Accept-Language: 0``, its localizations and their images) and the tenant-wide Microsoft 365 group settings
(``groupSettings`` from the ``Group.Unified`` template).

As the service does: a tenant without company branding answers 404 to the default branding, and the default
is created only together with a first localization (``POST .../branding/localizations``); strings are
PATCHed, images PUT one at a time; a group setting is created from a template once and then PATCHed with its
whole ``values`` list."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from .http import Request, Response
from .notes import png
from .shapes import GraphFailure
from .state import Tenant

PROFILE_WRITABLE = ("marketingNotificationEmails", "privacyProfile", "securityComplianceNotificationMails",
                    "securityComplianceNotificationPhones", "technicalNotificationMails")
PROFILE_READ_ONLY = ("street", "city", "postalCode", "state", "country", "businessPhones")
BRANDING_STRINGS = ("backgroundColor", "signInPageText", "usernameHintText", "customPrivacyAndCookiesText",
                    "customPrivacyAndCookiesUrl", "customTermsOfUseText", "customTermsOfUseUrl",
                    "customCannotAccessYourAccountUrl", "customForgotMyPasswordText", "customResetItNowText",
                    "headerBackgroundColor")
BRANDING_IMAGES = ("bannerLogo", "squareLogo", "squareLogoDark", "backgroundImage", "favicon", "headerLogo")
GROUP_UNIFIED = "62375ab9-6b52-47ed-826b-58e47e0e304b"
TEMPLATE_VALUES = (  # Group.Unified: name, type, default
    ("CustomBlockedWordsList", "System.String", ""), ("EnableMSStandardBlockedWords", "System.Boolean", "false"),
    ("ClassificationDescriptions", "System.String", ""), ("DefaultClassification", "System.String", ""),
    ("PrefixSuffixNamingRequirement", "System.String", ""), ("AllowGuestsToBeGroupOwner", "System.Boolean", "false"),
    ("AllowGuestsToAccessGroups", "System.Boolean", "true"), ("GuestUsageGuidelinesUrl", "System.String", ""),
    ("GroupCreationAllowedGroupId", "System.Guid", ""), ("AllowToAddGuests", "System.Boolean", "true"),
    ("UsageGuidelinesUrl", "System.String", ""), ("ClassificationList", "System.String", ""),
    ("EnableGroupCreation", "System.Boolean", "true"), ("NewUnifiedGroupWritebackDefault", "System.Boolean", "true"),
    ("EnableMIPLabels", "System.Boolean", "false"))
READ = {"profile": {"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All"},
        "branding": {"OrganizationalBranding.Read.All", "OrganizationalBranding.ReadWrite.All",
                     "Organization.Read.All", "Organization.ReadWrite.All"},
        "groupSettings": {"GroupSettings.Read.All", "GroupSettings.ReadWrite.All", "Directory.Read.All",
                          "Directory.ReadWrite.All"}}
WRITE = {"profile": {"Organization.ReadWrite.All"},
         "branding": {"OrganizationalBranding.ReadWrite.All", "Organization.ReadWrite.All"},
         "groupSettings": {"GroupSettings.ReadWrite.All", "Directory.ReadWrite.All"}}


def owns(rest: str) -> bool:
    return rest.startswith(("organization/", "groupSettings", "groupSettingTemplates"))


def seed(tenant: Tenant) -> dict[str, Any]:
    """A new tenant: an empty profile, no branding, no group settings. The old one was set up over the years."""
    state: dict[str, Any] = {"profile": {k: [] for k in PROFILE_WRITABLE if k != "privacyProfile"},
                             "branding": None, "groupSettings": {}}
    state["profile"].update(privacyProfile=None, street=None, city=None, postalCode=None, state=None, country=None,
                            businessPhones=[])
    if tenant.key != "old":
        return state
    domain = next((d for d in tenant.domains if not tenant.domains[d]["isInitial"]), tenant.initial_domain)
    state["profile"].update(
        technicalNotificationMails=[f"it@{domain}"], securityComplianceNotificationMails=[f"security@{domain}"],
        securityComplianceNotificationPhones=["+31 20 555 0100"], marketingNotificationEmails=[f"it@{domain}"],
        privacyProfile={"contactEmail": f"privacy@{domain}", "statementUrl": f"https://www.{domain}/privacy"},
        street="Herengracht 1", city="Amsterdam", postalCode="1015 BA", country="Netherlands",
        businessPhones=["+31 20 555 0100"])
    default = {k: None for k in BRANDING_STRINGS}
    default.update(backgroundColor="#0B3D91", signInPageText="Contoso staff only. Sign in with your work account.",
                   usernameHintText=f"someone@{domain}", customPrivacyAndCookiesUrl=f"https://www.{domain}/privacy",
                   customPrivacyAndCookiesText="Privacy & cookies")
    dutch = {k: None for k in BRANDING_STRINGS}
    dutch.update(signInPageText="Alleen voor medewerkers van Contoso.", usernameHintText=f"iemand@{domain}")
    state["branding"] = {
        "0": {"strings": default, "images": {"bannerLogo": png(280, 60, f"{tenant.id}/banner"),
                                             "squareLogo": png(240, 240, f"{tenant.id}/square")}},
        "nl-NL": {"strings": dutch, "images": {}}}
    sales = next((g for g in tenant.groups.values() if g.get("mailNickname") == "sales"), None)
    values = {name: default for name, _, default in TEMPLATE_VALUES}
    values.update(EnableGroupCreation="false", GroupCreationAllowedGroupId=sales["id"] if sales else "",
                  UsageGuidelinesUrl=f"https://intranet.{domain}/groups", AllowToAddGuests="false")
    setting_id = str(uuid.uuid4())
    state["groupSettings"][setting_id] = {"id": setting_id, "displayName": "Group.Unified", "templateId": GROUP_UNIFIED,
                                          "values": [{"name": k, "value": v} for k, v in values.items()]}
    return state


class OrgSettings:
    def __init__(self, state: dict[str, dict[str, Any]]) -> None:
        self.state = state  # tenant id -> seed()

    def handle(self, req: Request, rest: str, tenant: Tenant, granted: set[str]) -> Response:
        area = "groupSettings" if rest.startswith("groupSetting") else \
            "branding" if "/branding" in rest else "profile"
        if not granted & (READ[area] if req.method == "GET" else WRITE[area]):
            raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        state = self.state[tenant.id]
        parts = rest.split("/")
        if area == "groupSettings":
            return self._group_settings(req, parts, state)
        if parts[1] != tenant.id:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{parts[1]}' does not exist.")
        if area == "profile":
            if req.method != "PATCH" or len(parts) != 2:
                raise GraphFailure(405, "Request_BadRequest", "The sandbox serves GET organization and PATCH "
                                                              "organization/{id}.")
            body = req.json() or {}
            for key, value in body.items():
                if key not in PROFILE_WRITABLE:
                    raise GraphFailure(400, "Request_BadRequest", f"Property '{key}' is read-only and cannot be set.")
                state["profile"][key] = copy.deepcopy(value)
            return Response(204)
        return self._branding(req, parts[3:], state, req.headers.get("accept-language", "0"))

    def profile(self, tenant: Tenant) -> dict[str, Any]:
        """What ``GET organization`` adds to the directory's own properties."""
        return copy.deepcopy(self.state[tenant.id]["profile"])

    # --- branding --------------------------------------------------------------------------------
    def _branding(self, req: Request, parts: list[str], state: dict[str, Any], language: str) -> Response:
        brand: dict[str, Any] | None = state["branding"]
        if not parts:  # the default branding (or the one of the Accept-Language locale)
            locale = "0" if language in ("", "0", "default") else language
            found = (brand or {}).get(locale)
            if found is None:
                raise GraphFailure(404, "Request_ResourceNotFound", "No branding exists for this organization"
                                   + ("." if locale == "0" else f" in locale {locale}."))
            if req.method == "PATCH":
                self._set_strings(found, req.json() or {})
                return Response(204)
            return Response(200, self._shape(locale, found))
        if parts[0] != "localizations":
            raise GraphFailure(400, "Request_BadRequest", f"The sandbox does not serve branding/{parts[0]}.")
        if len(parts) == 1:
            if req.method == "POST":  # creates the default too, the first time
                body = req.json() or {}
                locale = str(body.get("id") or "")
                if not locale or locale == "0":
                    raise GraphFailure(400, "Request_BadRequest", "A localization needs the id of a locale, e.g. nl-NL.")
                if brand is None:
                    brand = state["branding"] = {"0": {"strings": {k: None for k in BRANDING_STRINGS}, "images": {}}}
                if locale in brand:
                    raise GraphFailure(409, "Request_BadRequest", f"A localization for {locale} already exists.")
                brand[locale] = {"strings": {k: None for k in BRANDING_STRINGS}, "images": {}}
                self._set_strings(brand[locale], {k: v for k, v in body.items() if k != "id"})
                return Response(201, self._shape(locale, brand[locale]))
            return Response(200, {"value": [self._shape(k, v) for k, v in (brand or {}).items()]})
        found = (brand or {}).get(parts[1])
        if found is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"No branding localization {parts[1]}.")
        if len(parts) == 2:
            if req.method == "PATCH":
                self._set_strings(found, req.json() or {})
                return Response(204)
            return Response(200, self._shape(parts[1], found))
        image = parts[2]
        if image not in BRANDING_IMAGES:
            raise GraphFailure(400, "Request_BadRequest", f"{image} is not a branding image.")
        if req.method == "PUT":
            if not req.headers.get("content-type", "").startswith("image/"):
                raise GraphFailure(400, "Request_BadRequest", "An image is PUT with Content-Type image/*.")
            found["images"][image] = bytes(req.body)
            return Response(204)
        data = found["images"].get(image)
        if data is None:
            return Response(200, b"", {"Content-Type": "image/*"})  # an image never set is an empty stream
        return Response(200, data, {"Content-Type": "image/png"})

    @staticmethod
    def _set_strings(found: dict[str, Any], body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key in BRANDING_IMAGES:
                raise GraphFailure(400, "Request_BadRequest", f"{key} is a stream: PUT it on its own.")
            if key not in BRANDING_STRINGS:
                raise GraphFailure(400, "Request_BadRequest", f"Property '{key}' does not exist on the branding.")
            found["strings"][key] = value

    @staticmethod
    def _shape(locale: str, found: dict[str, Any]) -> dict[str, Any]:
        body = {"id": locale, **found["strings"], "cdnList": ["aadcdn.msftauthimages.net"]}
        for image in BRANDING_IMAGES:
            body[f"{image}RelativeUrl"] = f"{locale}/{image}" if image in found["images"] else None
        return body

    # --- group settings --------------------------------------------------------------------------
    def _group_settings(self, req: Request, parts: list[str], state: dict[str, Any]) -> Response:
        store: dict[str, Any] = state["groupSettings"]
        if parts[0] == "groupSettingTemplates":
            template = {"id": GROUP_UNIFIED, "displayName": "Group.Unified",
                        "description": "Setting templates define the different settings that can be used for the "
                                       "associated ObjectSettings. This template defines settings that can be used "
                                       "for Unified Groups.",
                        "values": [{"name": n, "type": t, "defaultValue": d, "description": n}
                                   for n, t, d in TEMPLATE_VALUES]}
            if len(parts) == 1:
                return Response(200, {"value": [template]})
            if parts[1] != GROUP_UNIFIED:
                raise GraphFailure(404, "Request_ResourceNotFound", f"No template {parts[1]} in the sandbox.")
            return Response(200, template)
        if len(parts) == 1:
            if req.method == "POST":
                body = req.json() or {}
                if body.get("templateId") != GROUP_UNIFIED:
                    raise GraphFailure(400, "Request_BadRequest", "The sandbox has the Group.Unified template only.")
                if any(s["templateId"] == GROUP_UNIFIED for s in store.values()):
                    raise GraphFailure(409, "Request_BadRequest", "A conflicting object with one or more of the "
                                                                  "specified property values is present in the directory.")
                made = {"id": str(uuid.uuid4()), "displayName": "Group.Unified", "templateId": GROUP_UNIFIED,
                        "values": self._values(body.get("values") or [], None)}
                store[made["id"]] = made
                return Response(201, copy.deepcopy(made))
            return Response(200, {"value": [copy.deepcopy(s) for s in store.values()]})
        found = store.get(parts[1])
        if found is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"No group setting {parts[1]}.")
        if req.method == "PATCH":
            found["values"] = self._values((req.json() or {}).get("values") or [], found["values"])
            return Response(204)
        if req.method == "DELETE":
            del store[parts[1]]
            return Response(204)
        return Response(200, copy.deepcopy(found))

    @staticmethod
    def _values(given: list[dict[str, Any]], current: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """The template's defaults (or the current values), overridden by ``given``; an unknown name is refused."""
        names = {n: t for n, t, _ in TEMPLATE_VALUES}
        values = {v["name"]: v["value"] for v in current} if current else {n: d for n, _, d in TEMPLATE_VALUES}
        for value in given:
            name = value.get("name")
            if name not in names:
                raise GraphFailure(400, "Request_BadRequest", f"Setting '{name}' is not in the template.")
            text = str(value.get("value", ""))
            if names[name] == "System.Boolean" and text.lower() not in ("true", "false"):
                raise GraphFailure(400, "Request_BadRequest", f"Setting '{name}' takes true or false, not {text!r}.")
            values[name] = text
        return [{"name": k, "value": v} for k, v in values.items()]
