"""What a worker process of another machine (or another process of this one) needs to sign in to both tenants
itself: the app registrations as the parameters name them (the environment variable or certificate file that
holds a secret, never the secret), the sign-in and Graph endpoints, and the company for SharePoint's User-Agent.
It travels in a task; the worker signs in with its own environment, once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from .auth import SignIn, TenantConfig
from .graph import HEADROOM, MOST_UNITS, GraphClient, units_reserve
from .http import user_agent

_CLIENTS: dict[tuple[str, str, str], GraphClient] = {}  # per worker process
_LOCK = threading.Lock()
SMALLEST_BUDGET = 1_250  # SharePoint's resource units a minute for an app in a tenant under 1,000 licences


@dataclass(frozen=True)
class RemoteSignIn:
    source: TenantConfig
    target: TenantConfig
    authority_host: str
    graph_url: str
    verify: str | bool
    company: str = ""
    sharepoint_units: int = 0  # SharePoint's budget a window (a minute) for this app, the smaller tenant's; 0: unknown
    at_once: int = 0  # SharePoint requests the whole cluster may have in flight (0: not a SharePoint workload)

    def shared_budget(self, scope_limit: int) -> tuple[int, RemoteSignIn]:
        """How many scopes of a SharePoint workload (``scope_limit`` requests each) the whole cluster may work on at
        once, and the sign-in its workers use for them. SharePoint counts resource units per app and tenant,
        whichever process spends them, and says how many are left only from 80 % of the budget on; so the requests
        in flight together may cost at most that last fifth, and every worker's client keeps that much in hand
        (:func:`~tenantmove.services.graph.units_reserve`). More worker processes then wait their turn for a scope;
        they never make the service answer 429."""
        budget = self.sharepoint_units or SMALLEST_BUDGET
        scopes = max(1, int(budget * HEADROOM) // (MOST_UNITS * max(1, scope_limit)))
        return scopes, replace(self, at_once=scopes * max(1, scope_limit))

    def client(self, side: str) -> GraphClient:
        """This process's signed-in client for ``side`` (``source`` or ``target``), made on first use. A worker
        without the secret or certificate is refused here, by :class:`~.auth.SignInError`, naming what is
        missing."""
        config = self.source if side == "source" else self.target
        key = (side, repr(config), self.graph_url)  # another app, secret or certificate: another sign-in
        with _LOCK:
            found = _CLIENTS.get(key)
            if found is None:
                signin = SignIn(config, authority_host=self.authority_host, verify=self.verify)
                signin.sign_in()
                found = GraphClient(signin, self.graph_url, verify=self.verify, name=config.role,
                                    agent=user_agent(self.company))
                _CLIENTS[key] = found
            found.rate_reserve = units_reserve(self.at_once)  # this workload's share of the app's budget
            return found
