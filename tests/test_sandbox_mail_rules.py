"""The sandbox's mailbox import/export API holds any client to Exchange's rules (raw HTTP here): streams
only export makes, imported items that read back identical and never as drafts, expiring pre-authenticated
import URLs, at most 20 items per export, and 4 requests at once per app and mailbox."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
import requests

from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphClient

from .conftest import make_client

MEGAN = "megan.bowen@contoso.example"


def raw(client: GraphClient, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {client.tokens.token()}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{client.base_url}/{path}", headers=headers, verify=client.verify, timeout=30,
                            **kwargs)


@pytest.fixture
def boxes(fresh_sandbox: Sandbox) -> tuple[Sandbox, GraphClient, GraphClient, str, str]:
    _, old = make_client(fresh_sandbox, "source")
    _, new = make_client(fresh_sandbox, "target")
    source = old.get(f"users/{MEGAN}/settings/exchange")["primaryMailboxId"]
    target = new.get("users/admin@contosonew.onmicrosoft.com/settings/exchange")["primaryMailboxId"]
    return fresh_sandbox, old, new, source, target


def folders(client: GraphClient, box: str) -> dict[str, dict[str, Any]]:
    return {f["displayName"]: f for f in client.get(f"admin/exchange/mailboxes/{box}/folders/delta")["value"]}


def test_a_mailbox_id_only_with_an_exchange_licence(boxes: tuple) -> None:
    sb, old, new, source, _ = boxes
    assert source.startswith("MBX:")
    new.post("users", {"accountEnabled": True, "displayName": "No licence", "mailNickname": "nolicence",
                       "userPrincipalName": "nolicence@contosonew.onmicrosoft.com", "usageLocation": "NL",
                       "passwordProfile": {"password": "Tm-test-Pa55word!", "forceChangePasswordNextSignIn": True}})
    resp = raw(new, "GET", "users/nolicence@contosonew.onmicrosoft.com/settings/exchange")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "ErrorMailboxNotFound"


def test_exported_items_import_identical_and_never_as_drafts(boxes: tuple) -> None:
    sb, old, new, source, target = boxes
    src = folders(old, source)
    assert {"Inbox", "Calendar", "Contacts", "Tasks", "Projects", "2026"} <= set(src)
    items = old.get_all(f"admin/exchange/mailboxes/{source}/folders/{src['Inbox']['id']}/items")
    too_many = raw(old, "POST", f"admin/exchange/mailboxes/{source}/exportItems",
                   json={"itemIds": ([i["id"] for i in items] * 21)[:21]})
    assert too_many.status_code == 400  # at most 20 per request
    exported = old.post(f"admin/exchange/mailboxes/{source}/exportItems",
                        json={"itemIds": [i["id"] for i in items[:3]]})["value"]
    assert len(exported) == 3 and all(e["data"] for e in exported)
    session = new.post(f"admin/exchange/mailboxes/{target}/createImportSession")
    inbox = folders(new, target)["Inbox"]["id"]
    url = session["importUrl"]
    bearer = requests.post(url, json={"FolderId": inbox, "Mode": "create", "Data": exported[0]["data"]},
                           headers={"Authorization": "Bearer x"}, verify=sb.ca_file, timeout=30)
    assert bearer.status_code == 401  # pre-authenticated: no Authorization header
    forged = base64.b64encode(b"FTS1" + b"\0" * 32 + b'{"type": "IPM.Note", "props": {}}').decode()
    assert requests.post(url, json={"FolderId": inbox, "Mode": "create", "Data": forged}, verify=sb.ca_file,
                         timeout=30).status_code == 400
    for e in exported:
        made = requests.post(url, json={"FolderId": inbox, "Mode": "create", "Data": e["data"]}, verify=sb.ca_file,
                             timeout=30)
        assert made.status_code == 200 and made.json()["itemId"]
    assert folders(new, target)["Inbox"]["totalItemCount"] == 3
    back = new.post(f"admin/exchange/mailboxes/{target}/exportItems", json={"itemIds": [
        i["id"] for i in new.get_all(f"admin/exchange/mailboxes/{target}/folders/{inbox}/items")]})["value"]
    # opaque to clients; this test knows the sandbox's stand-in format and compares every property
    props = [json.loads(base64.b64decode(e["data"])[36:])["props"] for e in exported]
    again = [json.loads(base64.b64decode(b["data"])[36:])["props"] for b in back]
    assert sorted(again, key=lambda p: p["subject"]) == sorted(props, key=lambda p: p["subject"])
    assert all(p["isDraft"] is False for p in again) and {p["isRead"] for p in props} == {p["isRead"] for p in again}


def test_an_import_session_expires(boxes: tuple) -> None:
    sb, old, new, source, target = boxes
    sb.set_knobs(import_session_seconds=0.0)
    session = new.post(f"admin/exchange/mailboxes/{target}/createImportSession")
    resp = requests.post(session["importUrl"], json={}, verify=sb.ca_file, timeout=30)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "ErrorExpiredSession"
    sb.set_knobs(import_session_seconds=3600)


def test_four_requests_at_once_per_app_and_mailbox(boxes: tuple) -> None:
    sb, old, new, source, _ = boxes
    sb.set_knobs(mailbox_latency_ms=300)
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        resp = raw(old, "GET", f"admin/exchange/mailboxes/{source}/folders")
        with lock:
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.headers.get("Retry-After") and resp.json()["error"]["code"] == "ApplicationThrottled"

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sb.set_knobs(mailbox_latency_ms=0)
    assert statuses.count(200) >= 4 and statuses.count(429) >= 1, statuses


def test_folders_are_created_with_their_class_and_read_permissions_are_enforced(boxes: tuple) -> None:
    sb, old, new, source, target = boxes
    made = new.post(f"admin/exchange/mailboxes/{target}/folders", {"displayName": "Projects", "type": "IPF.Note"})
    child = new.post(f"admin/exchange/mailboxes/{target}/folders/{made['id']}/childFolders",
                     {"displayName": "2026", "type": "IPF.Note"})
    assert child["parentFolderId"] == made["id"]
    again = raw(new, "POST", f"admin/exchange/mailboxes/{target}/folders", json={"displayName": "Projects",
                                                                                "type": "IPF.Note"})
    assert again.status_code == 409
    denied = raw(old, "POST", f"admin/exchange/mailboxes/{source}/createImportSession")
    assert denied.status_code == 403  # the old tenant's app may export, not import


def test_an_import_holds_to_exchanges_create_and_update_rules(boxes: tuple) -> None:
    """Create makes a new item and names none; update names an item in that folder, and a stale change key
    is a conflict (Exchange's UploadItems rules, which the Graph import API carries)."""
    sb, old, new, source, target = boxes
    src = folders(old, source)
    item = old.get_all(f"admin/exchange/mailboxes/{source}/folders/{src['Inbox']['id']}/items")[0]
    data = old.post(f"admin/exchange/mailboxes/{source}/exportItems", json={"itemIds": [item["id"]]})["value"][0]["data"]
    url = new.post(f"admin/exchange/mailboxes/{target}/createImportSession")["importUrl"]
    inbox, drafts = folders(new, target)["Inbox"]["id"], folders(new, target)["Drafts"]["id"]

    def send(**body: Any) -> requests.Response:
        return requests.post(url, json={"Data": data, **body}, verify=sb.ca_file, timeout=30)

    made = send(FolderId=inbox, Mode="create").json()
    assert send(FolderId=inbox, Mode="create", ItemId=made["itemId"]).status_code == 400
    assert send(FolderId=inbox, Mode="update").status_code == 400
    assert send(FolderId=drafts, Mode="update", ItemId=made["itemId"]).status_code == 404  # not in that folder
    updated = send(FolderId=inbox, Mode="update", ItemId=made["itemId"], ChangeKey=made["changeKey"])
    assert updated.status_code == 200 and updated.json()["changeKey"] != made["changeKey"]
    stale = send(FolderId=inbox, Mode="update", ItemId=made["itemId"], ChangeKey=made["changeKey"])
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert folders(new, target)["Inbox"]["totalItemCount"] == 1


def test_mailbox_folders_take_top_and_filter(boxes: tuple) -> None:
    sb, old, new, source, _ = boxes
    every = old.get(f"admin/exchange/mailboxes/{source}/folders")["value"]
    first = old.get(f"admin/exchange/mailboxes/{source}/folders", params={"$top": "2"})
    assert len(first["value"]) == 2 and "@odata.nextLink" in first
    assert [f["id"] for f in old.get_all(f"admin/exchange/mailboxes/{source}/folders", params={"$top": "2"})] == \
        [f["id"] for f in every]
    inbox = old.get(f"admin/exchange/mailboxes/{source}/folders", params={"$filter": "displayName eq 'inbox'"})
    assert [f["displayName"] for f in inbox["value"]] == ["Inbox"]
    bad = raw(old, "GET", f"admin/exchange/mailboxes/{source}/folders", params={"$filter": "contains(displayName,'x')"})
    assert bad.status_code == 400
