"""People of other organisations, invited into the new tenant as they were into the old one: one item per mapping
row with the action ``guest``, invited at that address with ``POST /invitations`` and ``sendInvitationMessage:
false`` (no mail goes out; they redeem when they first open something shared with them). A guest found already (a
run killed after the invitation) is taken as they are, never invited twice. A guest who has not redeemed yet is
``PendingAcceptance``: reported, not a failure. An invitation the guest's organisation blocks fails its own item
with the reason and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, Work, Workload
from ..errors import TenantmoveError
from ..services.graph import GraphClient, GraphError
from .groups import odata_quote
from .inventory import Inventory

REDIRECT = "https://myapps.microsoft.com"
SELECT = "id,userPrincipalName,mail,userType,externalUserState,displayName"


def find_guest(client: GraphClient, address: str) -> dict[str, Any] | None:
    found = client.get("users", {"$filter": f"mail eq '{odata_quote(address)}'", "$select": SELECT})["value"]
    return next((u for u in found if u.get("userType") == "Guest"), None)


class Guests(Workload):
    kind = "guest"
    title = "guests"

    def __init__(self, client: GraphClient, rows: pd.DataFrame, src: Inventory) -> None:
        self.client, self.rows = client, rows
        self.ids = {str(u).lower(): str(i) for u, i in zip(src.users["userPrincipalName"], src.users["id"],
                                                            strict=True)}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, row in self.rows.iterrows():
            key = self.ids.get(str(row["source_upn"]).lower(), str(row["source_upn"]).lower())
            yield Work(key, str(row["source_upn"]), detail={"invited at": row["target_upn"]},
                       data=(str(row["target_upn"]), str(row.get("display_name") or "")))

    def find(self, work: Work) -> dict[str, Any] | None:
        return find_guest(self.client, work.data[0])

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        return "" if existing is not None else f"{work.data[0]} is not a guest of the new tenant"

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        address, name = work.data
        if existing is not None:
            return Applied(str(existing["id"]), "adopted", detail={**work.detail,
                                                                   "state": existing.get("externalUserState")})
        try:
            made = self.client.post("invitations", {"invitedUserEmailAddress": address, "invitedUserDisplayName": name,
                                                    "inviteRedirectUrl": REDIRECT, "sendInvitationMessage": False},
                                    idempotent=True)  # inviting the same address again gives the same guest
        except GraphError as exc:
            if exc.status in (400, 403):
                raise TenantmoveError(f"the new tenant could not invite {address}: {exc.graph_message}",
                                      hint="ask the guest's organisation to allow invitations from the new tenant "
                                      "(cross-tenant access settings), or set action: skip on their row") from exc
            raise
        return Applied(str(made["invitedUser"]["id"]), "created", detail={**work.detail,
                                                                         "state": made.get("status")})


def guest_states(client: GraphClient, rows: pd.DataFrame) -> pd.DataFrame:
    """Each guest row as the new tenant has them: there or not, and whether they redeemed their invitation."""
    out = []
    for _, row in rows.iterrows():
        found = find_guest(client, str(row["target_upn"]))
        out.append({"guest": row["source_upn"], "invited at": row["target_upn"], "in the new tenant": found is not None,
                    "state": (found or {}).get("externalUserState") or ""})
    return pd.DataFrame(out, columns=["guest", "invited at", "in the new tenant", "state"])
