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
