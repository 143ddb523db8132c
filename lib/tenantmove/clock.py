"""Time as the audit trail writes it: UTC, to the second, ISO 8601 with a Z."""

from __future__ import annotations

import datetime as dt

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime(FORMAT)


def parse(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, FORMAT).replace(tzinfo=dt.UTC)
