"""A requests session that always verifies TLS against the CA it was given.

``requests`` lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's ``verify``
attribute; passing ``verify`` with every request is what holds. msal gets the same session as its
``http_client``, so sign-in and Graph trust the same (explicit) CA.
"""

from __future__ import annotations

import re
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .. import __version__


def user_agent(company: str = "") -> str:
    """The decorated User-Agent SharePoint asks of traffic it should recognise:
    ``NONISV|<company>|tenantmove/<version>`` (throttling treats undecorated traffic worse)."""
    name = re.sub(r"[^A-Za-z0-9 ._-]", "", company).strip() or "unknown"
    return f"NONISV|{name}|tenantmove/{__version__}"


USER_AGENT = user_agent()


class VerifyingSession(requests.Session):
    def __init__(self, verify: str | bool = True, pool_size: int = 16, agent: str = USER_AGENT) -> None:
        super().__init__()
        self._verify = verify
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.headers["User-Agent"] = agent

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self._verify  # always explicit: the environment cannot replace it
        kwargs.setdefault("timeout", 60)
        return super().request(method, url, *args, **kwargs)
