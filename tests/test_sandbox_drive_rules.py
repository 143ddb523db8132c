"""The sandbox holds any client to the service's file rules: raw HTTP here, not our client's helpers."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphClient

from .files_helpers import NEW, make_target_users, new_upn


@pytest.fixture
def megan(fresh_sandbox: Sandbox) -> tuple[Sandbox, GraphClient, str]:
    from .conftest import make_client

    _, new = make_client(fresh_sandbox, "target")
    make_target_users(fresh_sandbox, new, ("megan.bowen",))
    drive = new.get(f"users/{new_upn('megan.bowen')}/drive")
    return fresh_sandbox, new, drive["id"]


def raw(client: GraphClient, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {client.tokens.token()}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{client.base_url}/{path}", headers=headers, verify=client.verify, timeout=30,
                            **kwargs)


def session(client: GraphClient, drive: str, name: str) -> str:
    resp = raw(client, "POST", f"drives/{drive}/root:/{name}:/createUploadSession", json={"item": {}})
    assert resp.status_code == 200, resp.text
    return resp.json()["uploadUrl"]


def put(url: str, verify: Any, start: int, data: bytes, total: int, **headers: str) -> requests.Response:
    return requests.put(url, data=data, verify=verify, timeout=30,
                        headers={"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}", **headers})


UNIT = 320 * 1024


def test_fragments_are_multiples_of_320_kib_in_order_and_unauthenticated(megan: tuple) -> None:
    sb, client, drive = megan
    url = session(client, drive, "big.bin")
    total = 3 * UNIT + 10
    assert put(url, sb.ca_file, 0, b"x" * (UNIT + 1), total).status_code == 400  # not a multiple of 320 KiB
    bearer = put(url, sb.ca_file, 0, b"x" * UNIT, total, Authorization="Bearer abc")
    assert bearer.status_code == 401  # the upload URL is pre-authenticated: no Authorization header
    first = put(url, sb.ca_file, 0, b"x" * UNIT, total)
    missing = [f"{UNIT}-{total - 1}"]  # "start-end", as documented, once the total is known
    assert first.status_code == 202 and first.json()["nextExpectedRanges"] == missing
    skipped = put(url, sb.ca_file, 2 * UNIT, b"x" * UNIT, total)
    assert skipped.status_code == 416 and skipped.json()["error"]["nextExpectedRanges"] == missing
    status = requests.get(url, verify=sb.ca_file, timeout=30).json()
    assert status["nextExpectedRanges"] == missing
    assert put(url, sb.ca_file, UNIT, b"x" * (2 * UNIT), total).status_code == 202
    last = put(url, sb.ca_file, 3 * UNIT, b"x" * 10, total)  # the last fragment may be any size
    assert last.status_code == 201 and last.json()["size"] == total
    assert last.json()["file"]["hashes"]["quickXorHash"]
    # the last fragment again (as Microsoft's Python SDK sends it): the same item, nothing changed; anything else
    # after the commit finds no session
    again = put(url, sb.ca_file, 3 * UNIT, b"x" * 10, total)
    assert again.status_code == 200 and again.json()["id"] == last.json()["id"]
    assert put(url, sb.ca_file, 0, b"x" * UNIT, total).status_code == 404


def test_a_fragment_of_60_mib_is_refused(megan: tuple) -> None:
    sb, client, drive = megan
    url = session(client, drive, "huge.bin")
    size = 60 * 1024 * 1024
    resp = put(url, sb.ca_file, 0, b"\0" * size, size * 2)
    assert resp.status_code == 400 and "60 MiB" in resp.json()["error"]["message"]


@pytest.mark.parametrize("name", ['a:b.txt', "CON", "desktop.ini", "x.", " lead.txt", "~$owner.docx", "my_vti_x"])
def test_names_sharepoint_refuses_are_refused(megan: tuple, name: str) -> None:
    _, client, drive = megan
    resp = raw(client, "POST", f"drives/{drive}/root/children", json={"name": name, "folder": {}})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalidRequest"


def test_conflict_behaviour_and_the_400_character_path(megan: tuple) -> None:
    _, client, drive = megan
    body = {"name": "Plans", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}
    assert raw(client, "POST", f"drives/{drive}/root/children", json=body).status_code == 201
    assert raw(client, "POST", f"drives/{drive}/root/children", json=body).status_code == 409
    renamed = raw(client, "POST", f"drives/{drive}/root/children", json=dict(body, **{
        "@microsoft.graph.conflictBehavior": "rename"}))
    assert renamed.json()["name"] == "Plans 1"
    long = "n" * 380
    resp = raw(client, "PUT", f"drives/{drive}/root:/{long}.txt:/content", data=b"x")
    assert resp.status_code == 400 and "400 characters" in resp.json()["error"]["message"]


def test_downloads_redirect_to_a_pre_authenticated_url_and_stream_ranges(megan: tuple) -> None:
    sb, client, drive = megan
    assert raw(client, "PUT", f"drives/{drive}/root:/a.txt:/content", data=b"hello world").status_code == 201
    resp = raw(client, "GET", f"drives/{drive}/root:/a.txt:/content", allow_redirects=False)
    assert resp.status_code == 302
    url = resp.headers["Location"]
    assert requests.get(url, verify=sb.ca_file, timeout=30).content == b"hello world"
    part = requests.get(url, verify=sb.ca_file, timeout=30, headers={"Range": "bytes=6-"})
    assert part.status_code == 206 and part.content == b"world"
    item = raw(client, "GET", f"drives/{drive}/root:/a.txt").json()
    assert item["file"]["hashes"]["quickXorHash"] == "aCgDG9jwBhDc4Q1yawMZAAAAAAA="  # computed from the bytes


def test_a_user_without_onedrive_gets_mysite_not_found(megan: tuple) -> None:
    sb, client, _ = megan
    make_target_users(sb, client, ("alex.wilber",), provision=False)
    resp = raw(client, "GET", f"users/{new_upn('alex.wilber')}/drive")
    assert resp.status_code == 404 and resp.json()["error"]["message"] == "User's mysite not found."


def test_an_app_with_read_permissions_cannot_write(fresh_sandbox: Sandbox) -> None:
    from .conftest import make_client

    _, old = make_client(fresh_sandbox, "source")
    drive = old.get("users/megan.bowen@contoso.example/drive")["id"]
    resp = raw(old, "POST", f"drives/{drive}/root/children", json={"name": "x", "folder": {}})
    assert resp.status_code == 403


def test_delta_reports_deletions_and_an_expired_token_answers_410(megan: tuple) -> None:
    sb, client, drive = megan
    raw(client, "PUT", f"drives/{drive}/root:/gone.txt:/content", data=b"bye")
    first = raw(client, "GET", f"drives/{drive}/root/delta").json()
    assert "gone.txt" in {i["name"] for i in first["value"]}
    assert all("path" not in i.get("parentReference", {}) for i in first["value"])  # as OneDrive for Business
    item = raw(client, "GET", f"drives/{drive}/root:/gone.txt").json()
    assert raw(client, "DELETE", f"drives/{drive}/items/{item['id']}").status_code == 204
    second = raw(client, "GET", first["@odata.deltaLink"].split("/v1.0/", 1)[1]).json()
    assert [i["deleted"] for i in second["value"] if i["id"] == item["id"]] == [{"state": "deleted"}]
    sb.admin("POST", f"files/{NEW}/expire-deltas")
    expired = raw(client, "GET", second["@odata.deltaLink"].split("/v1.0/", 1)[1])
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "resyncChangesApplyDifferences"
    fresh = raw(client, "GET", expired.headers["Location"].split("/v1.0/", 1)[1])  # a fresh enumeration
    assert fresh.status_code == 200 and "gone.txt" not in {i["name"] for i in fresh.json()["value"]}


def test_delta_takes_a_timestamp_for_a_token(megan: tuple) -> None:
    """OneDrive for Business and SharePoint: ``token`` may be a time; the changes since then come back."""
    sb, client, drive = megan
    raw(client, "PUT", f"drives/{drive}/root:/before.txt:/content", data=b"old")
    time.sleep(1.1)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    raw(client, "PUT", f"drives/{drive}/root:/after.txt:/content", data=b"new")
    changed = raw(client, "GET", f"drives/{drive}/root/delta", params={"token": since})
    names = {i["name"] for i in changed.json()["value"]}
    assert changed.status_code == 200 and "after.txt" in names and "before.txt" not in names
    assert "@odata.deltaLink" in changed.json()


def test_an_upload_session_with_defer_commit_waits_for_the_empty_post(megan: tuple) -> None:
    sb, client, drive = megan
    resp = raw(client, "POST", f"drives/{drive}/root:/deferred.bin:/createUploadSession",
               json={"item": {}, "deferCommit": True})
    url = resp.json()["uploadUrl"]
    data = b"d" * (UNIT + 10)
    assert put(url, sb.ca_file, 0, data[:UNIT], len(data)).status_code == 202
    early = requests.post(url, data=b"", verify=sb.ca_file, timeout=30)
    assert early.status_code == 400  # not every byte is in yet
    last = put(url, sb.ca_file, UNIT, data[UNIT:], len(data))
    assert last.status_code == 202 and last.json()["nextExpectedRanges"] == []
    assert raw(client, "GET", f"drives/{drive}/root:/deferred.bin").status_code == 404  # not made yet
    made = requests.post(url, data=b"", verify=sb.ca_file, timeout=30)
    assert made.status_code == 201 and made.json()["size"] == len(data)
    assert raw(client, "GET", f"drives/{drive}/root:/deferred.bin:/content").content == data


def test_responses_carry_their_odata_context(megan: tuple) -> None:
    sb, client, drive = megan
    children = raw(client, "GET", f"drives/{drive}/root/children").json()
    assert children["@odata.context"].endswith(f"/v1.0/$metadata#drives('{drive}')/root/children")
    one = raw(client, "GET", f"drives/{drive}").json()
    assert one["@odata.context"].endswith("/v1.0/$metadata#drives/$entity")
    batch = raw(client, "POST", "$batch", json={"requests": [{"id": "1", "method": "GET", "url": f"/drives/{drive}"}]})
    assert batch.json()["responses"][0]["body"]["@odata.context"].endswith("#drives/$entity")


def test_resource_units_bring_ratelimit_headers_then_429(megan: tuple) -> None:
    """20 units in a 60-second window, on the old tenant (nothing charged it since the reset but the one read of
    the drive): the RateLimit headers from 80 % of the budget, then 429 with Retry-After, within the budget's reach
    whatever the machine's speed."""
    from .conftest import make_client

    sb, _, _ = megan
    _, old = make_client(sb, "source")
    drive = old.get("users/megan.bowen@contoso.example/drive")["id"]  # one unit, in a window of its own
    sb.set_knobs(ru_per_minute=20, ru_window_seconds=60.0)
    seen: list[requests.Response] = []
    for _ in range(30):
        seen.append(raw(old, "GET", f"drives/{drive}/root"))  # 1 unit each
        if seen[-1].status_code == 429:
            break
    warned = [r for r in seen if "RateLimit-Remaining" in r.headers]
    assert warned and int(warned[0].headers["RateLimit-Limit"]) == 20
    assert int(warned[0].headers["RateLimit-Remaining"]) <= 4  # from 80 % of the budget on
    assert warned[0] is not seen[-1] and seen.index(warned[0]) >= 14  # not before 80 % was spent
    assert seen[-1].status_code == 429 and float(seen[-1].headers["Retry-After"]) > 0
    assert len(seen) <= 20  # the 21st unit of the window is refused
