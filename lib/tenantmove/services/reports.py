"""Microsoft 365's usage reports through Graph v1.0 (Reports.Read.All): per mailbox, OneDrive and site, how many
items and bytes it holds. The service answers 302 with a pre-authenticated URL, which is read without the token;
the CSV may start with a byte-order mark. Names may be concealed (hashes): the sizes are what a forecast needs."""

from __future__ import annotations

import io

import pandas as pd

from .graph import GraphClient, GraphError

MAILBOXES, ONEDRIVES, SITES = "getMailboxUsageDetail", "getOneDriveUsageAccountDetail", "getSharePointSiteUsageDetail"
COUNTS = {MAILBOXES: "Item Count", ONEDRIVES: "File Count", SITES: "File Count"}


def usage(graph: GraphClient, report: str, period: str = "D7") -> pd.DataFrame:
    """One usage report as a table (its own columns), read through its download URL."""
    answer = graph.request("GET", f"reports/{report}(period='{period}')", allow_redirects=False)
    location = answer.headers.get("Location")
    if answer.status_code != 302 or not location:
        raise GraphError(answer.status_code, "UnexpectedAnswer", f"{report} gave no download URL")
    text = graph.request("GET", location, authenticated=False).content.decode("utf-8-sig")
    return pd.read_csv(io.StringIO(text), keep_default_na=False) if text.strip() else pd.DataFrame()


def sizes(graph: GraphClient, report: str) -> pd.DataFrame:
    """scope (the principal name or site URL, maybe concealed), items, bytes: one row per mailbox, OneDrive or site."""
    found = usage(graph, report)
    if found.empty:
        return pd.DataFrame(columns=["scope", "items", "bytes"])
    scope = found["User Principal Name"] if report == MAILBOXES else found["Site URL"]
    return pd.DataFrame({"scope": scope.astype(str), "items": pd.to_numeric(found[COUNTS[report]]).astype(int),
                         "bytes": pd.to_numeric(found["Storage Used (Byte)"]).astype(int)})
