"""The sandbox's outside world writing to the people while the domain moves (its SMTP sender): started and read
through the sandbox's admin API. Only a rehearsal against the sandbox has it; against Microsoft 365 the mail's
senders are the world's, and :func:`for_endpoints` gives None."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from ..errors import ServiceUnreachable
from .connect import Endpoints

LABEL = "mail-flow"


@dataclass
class OutsideMail:
    admin_url: str
    verify: str | bool

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = requests.request(method, f"{self.admin_url}/{path}", verify=self.verify, timeout=30, **kwargs)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise ServiceUnreachable(f"the sandbox's outside mail server did not answer: {exc}", where="sandbox",
                                     hint="is the sandbox still running? (make demo and make lab start it)") from exc
        return dict(resp.json())

    def start(self, to: list[str], every_seconds: float, label: str = LABEL, count: int = 0) -> dict[str, Any]:
        return self._call("POST", "mailflow", json={"to": to, "every_seconds": every_seconds, "label": label,
                                                    "count": count})

    def stop(self) -> dict[str, Any]:
        return self._call("POST", "mailflow/stop")

    def view(self) -> dict[str, Any]:
        """``{"sending", "figures", "letters"}``: what the sender sent, and what became of each letter."""
        return self._call("GET", "mailflow")

    def settle(self, timeout: float, poll: float = 0.5) -> dict[str, Any]:
        """The view once no letter is queued any more (or at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.view()
            if not view["figures"]["queued"] or time.monotonic() >= deadline:
                return view
            time.sleep(poll)


def for_endpoints(endpoints: Endpoints) -> OutsideMail | None:
    return OutsideMail(endpoints.admin_url, endpoints.verify) if endpoints.admin_url else None
