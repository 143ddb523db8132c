"""What a worker process of another machine (or another process of this one) needs to sign in to both tenants
itself: the app registrations as the parameters name them (the environment variable or certificate file that
holds a secret, never the secret), the sign-in and Graph endpoints, and the company for SharePoint's User-Agent.
It travels in a task; the worker signs in with its own environment, once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .auth import SignIn, TenantConfig
from .graph import GraphClient
from .http import user_agent

_CLIENTS: dict[tuple[str, str, str], GraphClient] = {}  # per worker process
_LOCK = threading.Lock()


@dataclass(frozen=True)
class RemoteSignIn:
    source: TenantConfig
    target: TenantConfig
    authority_host: str
    graph_url: str
    verify: str | bool
    company: str = ""

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
            return found
