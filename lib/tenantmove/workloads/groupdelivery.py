"""A Microsoft 365 group's delivery settings: whether people outside the organisation may mail it (Graph's
``allowExternalSenders``) and whether new members get its conversations in their inbox (``autoSubscribeNewMembers``).
Graph reads and writes both only with a delegated token, so they are an :class:`~.exported.Exported` workload:
``Get-UnifiedGroup`` exports them in both tenants (``RequireSenderAuthenticationEnabled`` is ``allowExternalSenders``
turned round), ``Set-UnifiedGroup`` sets them on the group of the same alias (mail nickname), which phase 30
created. Every moving group gets its item, so phase 90 sees a setting changed behind the runbook's back."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..engine import ManualStep, Work, ps_quote
from .exported import Exported

FILE = "group-delivery.csv"
COLUMNS = ("Alias", "RequireSenderAuthenticationEnabled", "AutoSubscribeNewMembers")
Delivery = dict[str, tuple[str, bool, bool]]  # alias, lower -> (alias, external senders, new members subscribed)


def export_commands(folder: Path, side: str) -> list[str]:
    """The read-only line: every Microsoft 365 group's delivery settings into ``<folder>/<side>-group-delivery.csv``."""
    return [f"Get-UnifiedGroup -ResultSize Unlimited | Select-Object {','.join(COLUMNS)} | Export-Csv -Path "
            f"{ps_quote(str(folder / (side + '-' + FILE)))} -NoTypeInformation"]


def _true(value: object) -> bool:
    return str(value).strip().lower() == "true"


def read_delivery(folder: Path, side: str) -> Delivery | None:
    target = folder / f"{side}-{FILE}"
    if not target.is_file():
        return None
    with open(target, newline="", encoding="utf-8") as fh:
        return {str(r["Alias"]).lower(): (str(r["Alias"]), not _true(r["RequireSenderAuthenticationEnabled"]),
                                          _true(r["AutoSubscribeNewMembers"]))
                for r in csv.DictReader(fh) if r.get("Alias")}


def _words(external: bool, subscribe: bool) -> str:
    return (f"{'anyone' if external else 'only the organisation'} may mail it; new members "
            f"{'are' if subscribe else 'are not'} subscribed")


class GroupDelivery(Exported):
    kind = "group-delivery"
    title = "groups' delivery settings (mail from outside, new members subscribed)"
    what = "groups' delivery settings"

    def __init__(self, folder: Path, old_org: str, new_org: str, groups: pd.DataFrame) -> None:
        """``groups``: the old tenant's groups (the inventory's table); the Microsoft 365 ones move."""
        super().__init__(folder, old_org, new_org)
        self.names = {str(n).lower(): str(d) for n, d, k in zip(groups["mailNickname"], groups["displayName"],
                                                               groups["kind"], strict=True) if k == "Microsoft 365"}

    def export(self, side: str) -> list[str]:
        return export_commands(self.folder, side)

    def read(self, side: str) -> Delivery | None:
        return read_delivery(self.folder, side)

    def wanted(self, old: Delivery) -> Iterable[Work]:
        for key in sorted(set(old) & set(self.names)):
            alias, external, subscribe = old[key]
            yield Work(key, f"{self.names[key]}: delivery settings",
                       detail={"allowExternalSenders": external, "autoSubscribeNewMembers": subscribe},
                       data=(alias, external, subscribe))

    def missing(self, work: Work, new: Delivery | None) -> str:
        if new is None:
            return "the new tenant's groups were never exported (run the phase's script)"
        if work.key not in new:
            return "the group is not in the new tenant's export"
        _, external, subscribe = work.data
        _, now_external, now_subscribe = new[work.key]
        return "; ".join([f"allowExternalSenders is {now_external}, the old group's {external}"] * (now_external != external)
                         + [f"autoSubscribeNewMembers is {now_subscribe}, the old group's {subscribe}"]
                         * (now_subscribe != subscribe))

    def step(self, work: Work) -> ManualStep:
        alias, external, subscribe = work.data
        return ManualStep(work.key, f"{self.names[work.key]}: {_words(external, subscribe)}", [
            f"Set-UnifiedGroup -Identity {ps_quote(alias)} -RequireSenderAuthenticationEnabled "
            f"${str(not external).lower()} -AutoSubscribeNewMembers:${str(subscribe).lower()}"],
            check=f"{alias} in the new export: {_words(external, subscribe)}")
