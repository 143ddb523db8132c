"""Users in the new tenant, one per row of the user mapping: created, or adopted when they exist
(by the wanted UPN, or pre-staged on the onmicrosoft domain and then renamed), with usage location
before licences. New users' temporary passwords go to the :class:`PasswordVault`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from ..engine import Applied, DeltaLinks, Work, Workload
from ..services.graph import GraphClient, GraphNotFound, path
from .inventory import Inventory
from .passwords import PasswordVault

USER_SELECT = "id,userPrincipalName,usageLocation,assignedLicenses,mail"


def find_user(client: GraphClient, upn: str) -> dict[str, Any] | None:
    try:
        return client.get(path("users", upn), {"$select": USER_SELECT}, expected=(404,))
    except GraphNotFound:
        return None


def local_part(upn: str) -> str:
    return upn.split("@", 1)[0]


def prestage_upn(target_upn: str, new_initial: str) -> str:
    return f"{local_part(target_upn)}@{new_initial}"


def sku_ids(target: Inventory) -> dict[str, str]:
    return dict(zip(target.licences["skuPartNumber"], target.licences["skuId"], strict=True))


class Users(Workload):
    """Create or update one user per mapping row."""

    title = "users"

    def __init__(self, client: GraphClient, moving: pd.DataFrame, source: Inventory, target: Inventory,
                 vault: PasswordVault, *, upn_for: Callable[[pd.Series], str],
                 also_look_for: Callable[[pd.Series], list[str]] | None = None, licences: bool = True,
                 kind: str = "user") -> None:
        self.client, self.moving, self.source, self.vault = client, moving, source, vault
        self.upn_for, self.also_look_for, self.licences = upn_for, also_look_for, licences
        self.kind = kind
        self.skus = sku_ids(target)

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        ids = dict(zip(self.source.users["userPrincipalName"].str.lower(), self.source.users["id"], strict=True))
        for _, row in self.moving.iterrows():
            want = self.upn_for(row)
            yield Work(ids[row["source_upn"].lower()], row["source_upn"], detail={"upn": want}, data=row)

    def find(self, work: Work) -> tuple[dict[str, Any], str] | None:
        row = work.data
        existing = find_user(self.client, self.upn_for(row))
        if existing is not None:
            return existing, "adopted"
        for other in (self.also_look_for(row) if self.also_look_for else []):
            staged = find_user(self.client, other)  # pre-staged on the onmicrosoft domain: renamed, not duplicated
            if staged is not None:
                return staged, "renamed"
        return None

    def apply(self, work: Work, existing: tuple[dict[str, Any], str] | None) -> Applied:
        row, want = work.data, self.upn_for(work.data)
        changed = False
        if existing is None:
            user, action = self._create(row, want), "created"
        else:
            user, action = existing
            if action == "renamed":
                self.client.patch(path("users", user["id"]), {"userPrincipalName": want, "mail": want})
            if row.get("usage_location") and user.get("usageLocation") != row["usage_location"]:
                self.client.patch(path("users", user["id"]), {"usageLocation": row["usage_location"]})
                changed = True
        licensed = self._license(user, row) if self.licences else []
        if action == "adopted" and (changed or licensed):
            action = "updated"
        return Applied(user["id"], action, note=f"{action} {want}",
                       detail={"upn": want, **({"licences added": licensed} if licensed else {})})

    def _create(self, row: pd.Series, want: str) -> dict[str, Any]:
        password = self.vault.password_for(want)  # in the vault before the user exists: a kill loses nothing
        body = {"accountEnabled": True, "displayName": row.get("display_name") or local_part(want),
                "mailNickname": local_part(want).replace("'", ""), "userPrincipalName": want,
                "passwordProfile": {"password": password, "forceChangePasswordNextSignIn": True}}
        if row.get("usage_location"):
            body["usageLocation"] = row["usage_location"]  # before any licence: licences need it
        created = self.client.post("users", body)
        return dict(created, assignedLicenses=[])

    def _license(self, user: dict[str, Any], row: pd.Series) -> list[str]:
        if not row.get("licences"):
            return []
        have = {lic["skuId"] for lic in user.get("assignedLicenses") or []}
        parts = [p for p in str(row["licences"]).split() if self.skus[p] not in have]
        if parts:
            self.client.post(path("users", user["id"], "assignLicense"),
                             {"addLicenses": [{"skuId": self.skus[p], "disabledPlans": []} for p in parts],
                              "removeLicenses": []}, idempotent=True)
        return parts
