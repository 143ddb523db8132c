"""What one of the sandbox's Graph services is to the Graph front door: it says which requests are its own and
serves them, whether they came directly or inside ``$batch``. A new service is one module implementing this and
one entry in the list :class:`~.server.SandboxApp` hands to :class:`~.graphapi.GraphApi`."""

from __future__ import annotations

from typing import Any, Protocol

from .http import Request, Response
from .state import Tenant


class SubApi(Protocol):
    def mounts(self, rest: str, method: str) -> bool:
        """Is ``method rest`` (the path after ``/v1.0/``, maybe with its query) this service's?"""

    def serve(self, req: Request, rest: str, tenant: Tenant, claims: dict[str, Any]) -> Response:
        """Answer it (raise :class:`~.shapes.GraphFailure` for an error): the same for a direct request and a
        ``$batch`` sub-request, which arrives as a :class:`Request` of its own."""
