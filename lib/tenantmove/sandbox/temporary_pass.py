"""A user's Temporary Access Pass (``users/{id}/authentication/temporaryAccessPassMethods``) under the tenant's
Temporary Access Pass policy, as Microsoft's documentation describes them:

- the policy (``state``, ``defaultLifetimeInMinutes``, ``minimumLifetimeInMinutes``, ``maximumLifetimeInMinutes``,
  ``defaultLength``, ``isUsableOnce``) must be ``enabled`` for a pass to be made; a lifetime outside its limits (and
  outside 10 to 43,200 minutes) is refused; a policy that makes every pass one-time refuses a multi-use one;
- a user has one pass: a new one replaces the one before;
- the pass itself is in the answer to the ``POST`` only; a ``GET`` never shows it;
- ``isUsable`` is false with ``methodUsabilityReason: NotYetValid`` before ``startDateTime``, ``Expired`` after its
  lifetime, ``EnabledByPolicy`` in between."""

from __future__ import annotations

import datetime as dt
import secrets
import string
import uuid
from collections.abc import Callable
from typing import Any

from .shapes import GraphFailure
from .state import Tenant, now_iso

WRITE = {"UserAuthenticationMethod.ReadWrite.All"}
READ = WRITE | {"UserAuthenticationMethod.Read.All"}
SERVICE_MIN, SERVICE_MAX = 10, 43200
ALPHABET = string.ascii_letters + string.digits + "+-*!#@%"


def check_policy(policy: dict[str, Any]) -> None:
    """A PATCH of the policy: its limits must hold together."""
    low, default, high = (int(policy.get(k) or 0) for k in ("minimumLifetimeInMinutes", "defaultLifetimeInMinutes",
                                                            "maximumLifetimeInMinutes"))
    if not SERVICE_MIN <= low <= default <= high <= SERVICE_MAX:
        raise GraphFailure(400, "badRequest", "The Temporary Access Pass lifetimes must satisfy 10 <= minimum <= "
                                              "default <= maximum <= 43200 minutes.")
    if policy.get("state") not in ("enabled", "disabled"):
        raise GraphFailure(400, "badRequest", "state must be 'enabled' or 'disabled'.")
    if not 8 <= int(policy.get("defaultLength") or 0) <= 48:
        raise GraphFailure(400, "badRequest", "defaultLength must be between 8 and 48.")


def _when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class Passes:
    def __init__(self, count: Callable[[str], None]) -> None:
        self.count = count
        self.held: dict[tuple[str, str], dict[str, Any]] = {}  # (tenant id, user id) -> the pass, without its secret

    def handle(self, method: str, user_key: str, method_id: str | None, body: dict[str, Any], tenant: Tenant,
               granted: set[str], policy: dict[str, Any]) -> Any:
        from .http import Response

        if not granted & (READ if method == "GET" else WRITE):
            raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        user = tenant.find_user(user_key)
        if user is None:
            raise GraphFailure(404, "Request_ResourceNotFound", f"Resource '{user_key}' does not exist.")
        key = (tenant.id, user["id"])
        held = self.held.get(key)
        if method == "GET":
            if method_id is None:
                return Response(200, {"value": [self._shown(held)] if held else []})
            if held is None or held["id"] != method_id:
                raise GraphFailure(404, "itemNotFound", "The Temporary Access Pass was not found.")
            return Response(200, self._shown(held))
        if method == "DELETE" and method_id is not None:
            if held is None or held["id"] != method_id:
                raise GraphFailure(404, "itemNotFound", "The Temporary Access Pass was not found.")
            del self.held[key]
            return Response(204)
        if method != "POST" or method_id is not None:
            raise GraphFailure(405, "Request_BadRequest", "Not supported.")
        return Response(201, self._create(key, body, policy))

    def _create(self, key: tuple[str, str], body: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
        if policy.get("state") != "enabled":
            self.count("temporary access pass refused: policy")
            raise GraphFailure(400, "badRequest", "Temporary Access Pass is not enabled for this user by the "
                                                  "authentication methods policy.")
        lifetime = int(body.get("lifetimeInMinutes") or policy["defaultLifetimeInMinutes"])
        low, high = int(policy["minimumLifetimeInMinutes"]), int(policy["maximumLifetimeInMinutes"])
        if not max(low, SERVICE_MIN) <= lifetime <= min(high, SERVICE_MAX):
            raise GraphFailure(400, "badRequest", f"lifetimeInMinutes must be between {low} and {high} (the Temporary "
                                                  "Access Pass policy).")
        once = bool(body.get("isUsableOnce", policy.get("isUsableOnce", False)))
        if policy.get("isUsableOnce") and not once:
            raise GraphFailure(400, "badRequest", "The Temporary Access Pass policy allows one-time passes only.")
        start = str(body.get("startDateTime") or "")
        if start:
            try:
                _when(start)
            except ValueError as exc:
                raise GraphFailure(400, "badRequest", f"startDateTime is not a date and time: {start!r}.") from exc
        secret = "".join(secrets.choice(ALPHABET) for _ in range(int(policy.get("defaultLength") or 8)))
        made = {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "id": str(uuid.uuid4()),
                "createdDateTime": now_iso(), "startDateTime": start or now_iso(), "lifetimeInMinutes": lifetime,
                "isUsableOnce": once}
        self.held[key] = made  # a new pass replaces the one before; the secret is not kept
        self.count("temporary access pass created")
        return {**self._shown(made), "temporaryAccessPass": secret}

    @staticmethod
    def _shown(held: dict[str, Any]) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        start = _when(held["startDateTime"])
        end = start + dt.timedelta(minutes=int(held["lifetimeInMinutes"]))
        reason = "NotYetValid" if now < start else "Expired" if now >= end else "EnabledByPolicy"
        return {**held, "temporaryAccessPass": None, "isUsable": reason == "EnabledByPolicy",
                "methodUsabilityReason": reason}
