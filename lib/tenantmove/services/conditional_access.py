"""Conditional access (named locations and policies), which answers about one request a second per tenant:
its own Graph client over the same sign-in, paced by the client's shared pacer hook (retries included)."""

from __future__ import annotations

from typing import Any

from .graph import GraphClient, path
from .pacing import Budget, Pacer

PER_SECOND = Budget(1, 1.05)


class CaClient:
    def __init__(self, graph: GraphClient) -> None:
        self.graph = GraphClient(graph.tokens, graph.base_url, verify=graph.verify, timeout=graph.timeout,
                                 retry=graph.retry, name=f"{graph.name} conditional access", agent=graph.agent,
                                 pacer=Pacer([PER_SECOND], 1))
        self.pacer = self.graph.pacer

    def all(self, what: str) -> list[dict[str, Any]]:
        return self.graph.get_all(f"identity/conditionalAccess/{what}")

    def create(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.graph.post(f"identity/conditionalAccess/{what}", body)

    def set_state(self, policy_id: str, state: str) -> None:
        self.graph.patch(f"identity/conditionalAccess/policies/{path(policy_id)}", {"state": state})

    def get(self, what: str, item_id: str) -> dict[str, Any]:
        return self.graph.get(f"identity/conditionalAccess/{what}/{path(item_id)}")
