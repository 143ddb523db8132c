"""Teams policies, as far as Graph v1.0 shows them and the runbook's manual scripts change them.

Graph reads which policy of each type is in effect for each Teams user (``GET admin/teams/userConfigurations``,
``TeamsUserConfiguration.Read.All``); it cannot read a policy's contents or create one. Teams PowerShell
creates them (``New-CsTeams<Type>Policy -Identity NAME``) and assigns them (``Grant-CsTeams<Type>Policy
-Identity UPN -PolicyName NAME``). Every tenant has each type's ``Global`` policy; a user without an assignment
gets it. A Teams user is a licensed one."""

from __future__ import annotations

import uuid
from typing import Any

from .shapes import GraphFailure
from .state import Tenant, now_iso

POLICY_TYPES = ("TeamsMeetingPolicy", "TeamsMessagingPolicy", "TeamsCallingPolicy", "TeamsAppSetupPolicy",
                "TeamsChannelsPolicy", "TeamsEventsPolicy")
READ = {"TeamsUserConfiguration.Read.All"}


def seed(tenant: Tenant) -> dict[str, Any]:
    """Per type: policy name -> id; per user id: type -> name. The old tenant has two custom policies."""
    state: dict[str, Any] = {"policies": {t: {"Global": str(uuid.uuid4())} for t in POLICY_TYPES}, "assigned": {}}
    if tenant.key == "old":
        state["policies"]["TeamsMeetingPolicy"]["Sales meetings"] = str(uuid.uuid4())
        state["policies"]["TeamsMessagingPolicy"]["Keep chats"] = str(uuid.uuid4())
        for user in tenant.users.values():
            upn = user["userPrincipalName"].lower()
            if upn.startswith("alex.wilber@"):
                state["assigned"].setdefault(user["id"], {})["TeamsMeetingPolicy"] = "Sales meetings"
            if upn.startswith(("megan.bowen@", "alex.wilber@")):
                state["assigned"].setdefault(user["id"], {})["TeamsMessagingPolicy"] = "Keep chats"
    return state


class TeamsAdmin:
    def __init__(self, state: dict[str, dict[str, Any]]) -> None:
        self.state = state  # tenant id -> seed()

    def user_configurations(self, tenant: Tenant, granted: set[str], rest: str) -> dict[str, Any]:
        if not granted & READ:
            raise GraphFailure(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        users = [u for u in tenant.users.values() if u.get("assignedLicenses")]
        parts = rest.split("/")
        if len(parts) == 4:
            users = [u for u in users if u["id"] == parts[3]]
            if not users:
                raise GraphFailure(404, "NotFound", f"No Teams user {parts[3]}.")
            return self._configuration(tenant, users[0])
        return {"value": [self._configuration(tenant, u) for u in users]}

    def _configuration(self, tenant: Tenant, user: dict[str, Any]) -> dict[str, Any]:
        state = self.state[tenant.id]
        mine = state["assigned"].get(user["id"], {})
        effective = []
        for kind in POLICY_TYPES:
            name = mine.get(kind, "Global")
            effective.append({"policyType": kind, "policyAssignment": {
                "displayName": name, "policyId": state["policies"][kind][name],
                "assignmentType": "direct" if kind in mine else "group", "groupId": None}})
        return {"id": user["id"], "userPrincipalName": user["userPrincipalName"], "tenantId": tenant.id,
                "accountType": "user", "isEnterpriseVoiceEnabled": False, "featureTypes": ["Teams"],
                "createdDateTime": user.get("createdDateTime") or now_iso(), "modifiedDateTime": now_iso(),
                "telephoneNumbers": [], "effectivePolicyAssignments": effective}

    def cmdlets(self) -> dict[str, Any]:
        made: dict[str, Any] = {}
        for kind in POLICY_TYPES:
            short = kind[len("Teams"):]
            made[f"New-CsTeams{short}"] = lambda tenant, p, line, k=kind: self._new(tenant, k, p)
            made[f"Grant-CsTeams{short}"] = lambda tenant, p, line, k=kind: self._grant(tenant, k, p)
        return made

    def _new(self, tenant: Tenant, kind: str, params: dict[str, str]) -> str:
        name = params.get("identity", "")
        policies = self.state[tenant.id]["policies"][kind]
        if not name:
            raise ValueError(f"New-Cs{kind}: -Identity is required")
        if name in policies:
            raise ValueError(f"New-Cs{kind}: a policy named {name!r} already exists")
        policies[name] = str(uuid.uuid4())
        return f"created {kind} {name!r}"

    def _grant(self, tenant: Tenant, kind: str, params: dict[str, str]) -> str:
        user = tenant.find_user(params.get("identity", ""))
        name = params.get("policyname", "")
        if user is None:
            raise ValueError(f"Grant-Cs{kind}: no user {params.get('identity')!r}")
        if name not in self.state[tenant.id]["policies"][kind]:
            raise ValueError(f"Grant-Cs{kind}: no policy named {name!r} (create it with New-Cs{kind})")
        self.state[tenant.id]["assigned"].setdefault(user["id"], {})[kind] = name
        return f"granted {kind} {name!r} to {user['userPrincipalName']}"
