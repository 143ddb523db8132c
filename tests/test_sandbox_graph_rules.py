"""The sandbox holds to Graph's documented rules, so that any Graph client — not only ours — meets the
service's behaviour: percent-encoded path segments, the two batch shapes, Content-Type on batched
writes, $count only with ConsistencyLevel: eventual, WWW-Authenticate on a 401."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tenantmove.sandbox import Sandbox
from tenantmove.services.graph import GraphClient, GraphError, path

from .conftest import make_client

ADMIN = "admin@contosonew.onmicrosoft.com"


def raw_batch(client: GraphClient, requests_: list[dict]) -> requests.Response:
    return client.session.request("POST", client._url("$batch"), json={"requests": requests_},
                                  headers={"Authorization": f"Bearer {client.tokens.token()}"})


def test_percent_encoded_segments_are_decoded(target_client: GraphClient) -> None:
    by_encoded = target_client.get("users/admin%40contosonew.onmicrosoft.com", {"$select": "id"})  # as the SDKs send it
    assert by_encoded["id"] == target_client.get(f"users/{ADMIN}", {"$select": "id"})["id"]


def test_a_guest_upn_is_found_only_when_the_client_encodes_it(fresh_sandbox: Sandbox) -> None:
    _, client = make_client(fresh_sandbox, "target")
    guest = "ann_fabrikam.com#EXT#@contosonew.onmicrosoft.com"
    client.post("users", {"accountEnabled": True, "displayName": "Ann (guest)", "mailNickname": "ann_fabrikam.com#EXT#",
                          "userPrincipalName": guest, "passwordProfile": {"password": "Sandbox-Passw0rd!"}})
    assert path("users", guest) == "users/ann_fabrikam.com%23EXT%23@contosonew.onmicrosoft.com"
    assert client.get(path("users", guest), {"$select": "userPrincipalName"})["userPrincipalName"] == guest
    with pytest.raises(GraphError):  # unencoded, '#' starts a fragment: the lookup that prevents duplicates fails
        client.get(f"users/{guest}", {"$select": "userPrincipalName"})


def test_batches_must_be_fully_parallel_or_fully_sequential(target_client: GraphClient) -> None:
    get = {"method": "GET", "url": f"/users/{ADMIN}?$select=id"}
    parallel = raw_batch(target_client, [dict(get, id="1"), dict(get, id="2")])
    sequential = raw_batch(target_client, [dict(get, id="1"), dict(get, id="2", dependsOn=["1"]),
                                           dict(get, id="3", dependsOn=["2"])])
    mixed = raw_batch(target_client, [dict(get, id="1"), dict(get, id="2", dependsOn=["1"]), dict(get, id="3")])
    assert parallel.status_code == sequential.status_code == 200
    assert mixed.status_code == 400 and "fully parallel" in mixed.json()["error"]["message"]


def test_a_batched_write_needs_its_content_type(fresh_sandbox: Sandbox) -> None:
    _, client = make_client(fresh_sandbox, "target")
    write = {"id": "1", "method": "PATCH", "url": f"/users/{ADMIN}", "body": {"usageLocation": "DE"}}
    refused = raw_batch(client, [write])
    assert refused.status_code == 400 and "Content-Type" in refused.json()["error"]["message"]
    assert client.get(f"users/{ADMIN}", {"$select": "usageLocation"})["usageLocation"] != "DE"  # not executed
    accepted = raw_batch(client, [dict(write, headers={"Content-Type": "application/json"})])
    assert accepted.status_code == 200 and accepted.json()["responses"][0]["status"] == 204


def test_count_needs_consistency_level_eventual(target_client: GraphClient) -> None:
    with pytest.raises(GraphError) as refused:
        target_client.get("users", {"$count": "true"})
    assert refused.value.status == 400 and "ConsistencyLevel" in refused.value.graph_message
    counted = target_client.request("GET", "users", params={"$count": "true"},
                                    headers={"ConsistencyLevel": "eventual"}).json()
    assert counted["@odata.count"] == len(counted["value"])


def test_a_401_says_where_to_get_a_token(sandbox: Sandbox) -> None:
    resp = requests.get(f"{sandbox.endpoints['graph_url']}/users", verify=sandbox.ca_file, timeout=10)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer ")
    assert resp.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_an_application_is_referenced_by_its_object_id_not_its_client_id(fresh_sandbox: Sandbox) -> None:
    _, old = make_client(fresh_sandbox, "source")
    refs = old.get_all("domains/contoso.example/domainNameReferences", {"$top": "999"})
    apps = [r for r in refs if r["@odata.type"].endswith("application")]
    assert len(apps) == 1 and apps[0]["id"] != "3e1a4c2b-7d6f-4a8e-9b0c-5f1e2d3c4b01"  # its intranet URI
    assert len(apps[0]["id"]) == 36


def test_a_transient_500_on_a_rename_is_retried_because_a_patch_sets_values(fresh_sandbox: Sandbox) -> None:
    from tenantmove.engine import Engine, Ledger
    from tenantmove.workloads.renames import UserRenames

    _, old = make_client(fresh_sandbox, "source")
    megan = old.get("users/megan.bowen@contoso.example", {"$select": "id"})["id"]
    import pandas as pd

    plan = pd.DataFrame([{"type": "user", "id": megan, "name": "Megan", "from": "megan.bowen@contoso.example",
                          "to": "megan.bowen@contoso.onmicrosoft.com", "how": "PATCH"}])
    fresh_sandbox.set_knobs(faults=[{"match": "^users/", "method": "PATCH", "status": 500, "count": 1}])

    class Gate:
        def require(self) -> None:
            return None

    with Ledger(Path(fresh_sandbox.state_dir) / "rename-ledger.sqlite") as ledger:
        outcome = Engine(ledger, "20").run(UserRenames(old, plan), dry_run=False, gate=Gate())
    assert outcome.counts() == {"renamed": 1} and old.stats["retries"] >= 1
    assert old.get(f"users/{megan}", {"$select": "userPrincipalName"})["userPrincipalName"].endswith("onmicrosoft.com")


class Approver:
    """A device-code prompt that plays the person: it enters the code as ``user`` at once."""

    def __init__(self, sb: Sandbox, user: str) -> None:
        self.sb, self.user = sb, user

    def show(self, role: str, tenant: str, flow: dict) -> None:
        self.sb.admin("POST", "device/approve", json={"user_code": flow["user_code"], "user": self.user})

    def status(self, text: str, waiting: bool = False) -> None:
        return None


def signed_in_as(sb: Sandbox, user: str) -> GraphClient:
    from tenantmove.services.auth import SignIn

    from .conftest import tenant_config

    signin = SignIn(tenant_config("target", auth="device_code", secret_env=""), authority_host=sb.endpoints["authority_host"],
                    verify=sb.ca_file, prompt=Approver(sb, user))
    signin.sign_in()
    return GraphClient(signin, sb.endpoints["graph_url"], verify=sb.ca_file)


def test_a_delegated_write_needs_the_persons_directory_role_too(fresh_sandbox: Sandbox) -> None:
    from .conftest import TARGET_APP

    fresh_sandbox.admin("PATCH", f"apps/{TARGET_APP}", json={"delegated": ["User.Read", "Directory.Read.All",
                                                                            "User.ReadWrite.All"]})
    admin = signed_in_as(fresh_sandbox, ADMIN)
    assert [r["displayName"] for r in admin.get_all("me/memberOf")] == ["Global Administrator"]
    admin.patch(f"users/{ADMIN}", {"usageLocation": "DE"})  # scope and role: allowed
    _, app = make_client(fresh_sandbox, "target")
    app.post("users", {"accountEnabled": True, "displayName": "Plain user", "mailNickname": "plain",
                       "userPrincipalName": "plain@contosonew.onmicrosoft.com",
                       "passwordProfile": {"password": "Sandbox-Passw0rd!"}})
    plain = signed_in_as(fresh_sandbox, "plain@contosonew.onmicrosoft.com")
    assert plain.get_all("me/memberOf") == []
    with pytest.raises(GraphError) as denied:  # the scope alone is not enough
        plain.patch(f"users/{ADMIN}", {"usageLocation": "FR"})
    assert denied.value.status == 403 and denied.value.code == "Authorization_RequestDenied"
