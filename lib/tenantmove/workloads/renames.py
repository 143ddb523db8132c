"""Users of the old tenant renamed off the custom domain (UPN and primary address), so that the
domain can leave the tenant. Groups and apps are renamed by forceDelete (see :mod:`.domain`)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..engine import Applied, DeltaLinks, Work, Workload
from ..services.graph import GraphClient, path
from .users import local_part


def rename_plan(refs: pd.DataFrame, domain: str, initial: str) -> pd.DataFrame:
    """Users are renamed here (UPN and primary address); groups and apps are renamed by forceDelete,
    because Graph cannot change a group's addresses or every app's identifier URIs."""
    rows = []
    for _, ref in refs.iterrows():
        if ref["type"] == "user" and str(ref["address"]).lower().endswith("@" + domain):
            rows.append({"type": "user", "id": ref["id"], "name": ref["name"], "from": ref["address"],
                         "to": f"{local_part(ref['address'])}@{initial}", "how": "PATCH userPrincipalName and mail"})
        else:
            rows.append({"type": ref["type"], "id": ref["id"], "name": ref["name"], "from": ref["address"],
                         "to": f"…@{initial}", "how": "renamed by forceDelete (aliases and addresses)"})
    return pd.DataFrame(rows, columns=["type", "id", "name", "from", "to", "how"])


class UserRenames(Workload):
    kind = "rename-user"
    title = "old-tenant user names"
    destructive = True

    def __init__(self, client: GraphClient, plan: pd.DataFrame, *, kind: str = "rename-user",
                 title: str = "old-tenant user names") -> None:
        """``plan``: rows of :func:`rename_plan` (a ``mail`` column, where present, is the address to give when it
        is not the new UPN)."""
        self.client, self.plan, self.kind, self.title = client, plan, kind, title

    def list(self, deltas: DeltaLinks) -> Iterable[Work]:
        for _, r in self.plan[self.plan["type"] == "user"].iterrows():
            yield Work(r["id"], r["from"], detail={"to": r["to"]}, data=r)

    def find(self, work: Work) -> str:
        return str(self.client.get(path("users", work.key), {"$select": "id,userPrincipalName"})["userPrincipalName"])

    def apply(self, work: Work, existing: str | None) -> Applied:
        to = work.data["to"]
        if existing and existing.lower() == to.lower():
            return Applied(work.key, "adopted", note=f"already {to}")
        mail = str(work.data.get("mail") or "") or to
        self.client.patch(path("users", work.key), {"userPrincipalName": to, "mail": mail})
        return Applied(work.key, "renamed", note=f"{work.data['from']} -> {to}")
