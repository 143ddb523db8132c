"""Request and response values shared by the sandbox's handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # https://127.0.0.1:PORT

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON, str -> text/html, bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    stream: Iterator[bytes] | None = None  # a body sent piece by piece (downloads), ``length`` bytes in all
    length: int = 0

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), "text/html; charset=utf-8"
        return json.dumps(self.body).encode("utf-8"), "application/json; odata.metadata=minimal; charset=utf-8"


def oauth_error(status: int, error: str, code: int, description: str) -> Response:
    return Response(status, {"error": error, "error_description": f"AADSTS{code}: {description}",
                             "error_codes": [code]})


def content_host(base: str) -> str:
    """Where pre-authenticated download and upload URLs point: another host than Graph's, as SharePoint's are, so
    that a client following one (a redirect, an SDK's upload task) drops its token as it must. On loopback the
    sandbox's certificate also names ``localhost``: the same server under another host name."""
    return base.replace("://127.0.0.1:", "://localhost:", 1)
