"""The service plans turned off for a person, carried with their licences: someone who had Teams (or Exchange, or
SharePoint) turned off in the old tenant has it off in the new one. Plans are matched by service plan name, since
SKU and plan ids differ between tenants of different families; a plan the new licence does not carry is named on
the person's item. ``assignLicense`` with a SKU the person holds already sets that SKU's ``disabledPlans``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..engine import Applied, DeltaLinks, Work, Workload
from ..errors import TenantmoveError
from ..services.graph import GraphNotFound, path
from .people import People


def wanted_off(plans_off: Iterable[str], sku: dict[str, Any]) -> list[str]:
    """The plan ids of ``sku`` to turn off for a person whose old licences had ``plans_off`` (names) off."""
    names = set(plans_off)
    return sorted(str(p["servicePlanId"]) for p in sku.get("servicePlans") or [] if p.get("servicePlanName") in names)


def plan_names(sku: dict[str, Any]) -> set[str]:
    return {str(p.get("servicePlanName")) for p in sku.get("servicePlans") or []}


class LicencePlans(Workload):
    """One item per moving person who gets licences: each new licence's plans off as the old licences had them."""

    kind = "licence-plans"
    title = "service plans turned off"

    def __init__(self, people: People, new_skus: list[dict[str, Any]]) -> None:
        self.people = people
        self.skus = {str(s["skuId"]): s for s in new_skus}

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for source_upn, target_upn in self.people.moving:
            off = self.people.source(source_upn).plans_off
            yield Work(source_upn.lower(), source_upn, version=",".join(off) or "none",
                       detail={"upn": target_upn, "plans off": list(off)}, data=(target_upn, off))

    def find(self, work: Work) -> dict[str, Any] | None:
        target_upn, _ = work.data
        try:
            return self.people.new.get(path("users", target_upn), {"$select": "id,assignedLicenses"}, expected=(404,))
        except GraphNotFound:
            return None

    def differs(self, work: Work, existing: dict[str, Any] | None) -> str:
        target_upn, off = work.data
        if existing is None:
            return f"{target_upn} is not in the new tenant"
        change = self._change(existing, off)
        return "; ".join(f"{self.skus[s]['skuPartNumber']}: plans off should be {', '.join(self._names(s, p)) or 'none'}"
                         for s, p in change.items())

    def _change(self, user: dict[str, Any], off: tuple[str, ...]) -> dict[str, list[str]]:
        """SKU id -> the plan ids to turn off, for each held licence whose plans off differ."""
        change = {}
        for lic in user.get("assignedLicenses") or []:
            sku = self.skus.get(str(lic["skuId"]))
            if sku is None:
                continue
            want = wanted_off(off, sku)
            if sorted(str(p) for p in lic.get("disabledPlans") or []) != want:
                change[str(lic["skuId"])] = want
        return change

    def _names(self, sku_id: str, plan_ids: list[str]) -> list[str]:
        by_id = {str(p["servicePlanId"]): str(p["servicePlanName"]) for p in self.skus[sku_id].get("servicePlans") or []}
        return [by_id.get(p, p) for p in plan_ids]

    def apply(self, work: Work, existing: dict[str, Any] | None) -> Applied:
        target_upn, off = work.data
        if existing is None:
            raise TenantmoveError(f"{target_upn} is not in the new tenant yet", hint="rerun phase 30: the users "
                                  "workload creates it first")
        held = [self.skus[str(lic["skuId"])] for lic in existing.get("assignedLicenses") or []
                if str(lic["skuId"]) in self.skus]
        carried = set().union(*(plan_names(s) for s in held)) if held else set()
        lost = sorted(set(off) - carried)
        detail = {**work.detail, **({"not in the new licences": lost} if lost else {})}
        change = self._change(existing, off)
        if not change:
            return Applied(str(existing["id"]), "already so", detail=detail)
        self.people.new.post(path("users", str(existing["id"]), "assignLicense"),
                             {"addLicenses": [{"skuId": s, "disabledPlans": p} for s, p in change.items()],
                              "removeLicenses": []}, idempotent=True)
        return Applied(str(existing["id"]), "updated",
                       detail={**detail, "set": {self.skus[s]["skuPartNumber"]: self._names(s, p)
                                                 for s, p in change.items()}})
