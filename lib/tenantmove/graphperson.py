"""What Graph v1.0 lets an app write of a person with ``PATCH /users/{id}``, beside the names, the UPN and the usage
location: one list the client and the sandbox share, as they share SharePoint's name rules (:mod:`.spnames`)."""

from __future__ import annotations

from typing import Any

PERSON_ATTRIBUTES = ("jobTitle", "department", "companyName", "officeLocation", "businessPhones", "mobilePhone",
                     "employeeId", "employeeType", "employeeHireDate", "streetAddress", "city", "state", "postalCode",
                     "country", "preferredLanguage", "ageGroup", "consentProvidedForMinor")


def attributes(user: dict[str, Any]) -> dict[str, Any]:
    """A person's writable attributes as Graph returned them, the empty ones left out (Graph reads an unset one
    back as null, or [] for the phones)."""
    return {a: user[a] for a in PERSON_ATTRIBUTES if user.get(a) not in (None, "", [])}


def plans_off(user: dict[str, Any], skus: list[dict[str, Any]]) -> list[str]:
    """The service plans (by name: SKU and plan ids differ between tenants of different families) turned off for a
    person: off in one of their licences and on in none (a plan two licences carry is on if either has it on)."""
    names = {str(p["servicePlanId"]): str(p["servicePlanName"]) for s in skus for p in s.get("servicePlans") or []}
    plans_of = {str(s["skuId"]): {str(p["servicePlanId"]) for p in s.get("servicePlans") or []} for s in skus}
    off: set[str] = set()
    on: set[str] = set()
    for lic in user.get("assignedLicenses") or []:
        disabled = {str(p) for p in lic.get("disabledPlans") or []}
        off |= {names.get(p, p) for p in disabled}
        on |= {names.get(p, p) for p in plans_of.get(str(lic["skuId"]), set()) - disabled}
    return sorted(off - on)
