"""Shared fixtures: one real sandbox process on loopback for the session (started only when a test
asks for it), with canary secrets planted in the environment so that tests can prove they never leak."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tenantmove.services.auth import SignIn, TenantConfig
from tenantmove.services.graph import GraphClient, RetryPolicy

if TYPE_CHECKING:  # the sandbox is imported by the fixture that starts it: unit tests never load it
    from tenantmove.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[1]
FULL_CSDL = ROOT.parent / "shared" / "graph" / "v1.0-Prod.csdl"  # Microsoft's whole document, where it is at hand
CSDL = ROOT / "tests" / "fixtures" / "graph-v1.0-subset.csdl"  # the part the tests need, in every clone
# the canary secrets: new for each test session, and the same in the helper processes a test starts
CANARY_SOURCE = os.environ.setdefault("TENANTMOVE_TEST_CANARY_SOURCE", "CANARYsrc" + secrets.token_hex(8))
CANARY_TARGET = os.environ.setdefault("TENANTMOVE_TEST_CANARY_TARGET", "CANARYtgt" + secrets.token_hex(8))
CANARY_FABRIKAM = os.environ.setdefault("TENANTMOVE_TEST_CANARY_FABRIKAM", "CANARYfab" + secrets.token_hex(8))
SOURCE_APP = "3e1a4c2b-7d6f-4a8e-9b0c-5f1e2d3c4b01"
TARGET_APP = "6c5b4a3f-2e1d-4c0b-9a8f-7e6d5c4b3a02"
# At rest between tests. SharePoint's resource-unit budget is lifted (one test session spends more in a
# minute than a tenant's 1,200): the throttling tests set their own.
QUIET_KNOBS = {"eop_unknown_domain": "reject", "holding_mx_answer": "defer", "latency_ms": 0, "throttle_rate": 0,
               "throttle_probability": 0, "error_probability": 0,
               "drop_probability": 0, "token_lifetime": 3600, "faults": [], "retry_after": 1,
               "ru_per_minute": 1_000_000, "ru_window_seconds": 60, "onedrive_provision_seconds": 3,
               "upload_session_seconds": 900, "drive_page_size": 200, "onenote_per_minute": 120,
               "onenote_per_hour": 0, "onenote_window_scale": 1, "onenote_section_pages": 5000,
               "exchange_requests": 10_000, "exchange_upload_bytes": 150_000_000, "exchange_window_scale": 1,
               "photo_max_bytes": 4 * 1024 * 1024, "invitations_blocked": [], "teams_rate_scale": 1.0,
               "teams_protected_denied": []}

os.environ["TENANTMOVE_SOURCE_SECRET"] = CANARY_SOURCE
os.environ["TENANTMOVE_TARGET_SECRET"] = CANARY_TARGET
os.environ["TENANTMOVE_FABRIKAM_SECRET"] = CANARY_FABRIKAM  # the merge's second old tenant (Fabrikam)
VAULT_KEY = "bXktdGVzdC12YXVsdC1rZXktMzItYnl0ZXMtbG9uZyE="  # 32 bytes, url-safe base64: the tests' vault key
os.environ["TENANTMOVE_VAULT_KEY"] = VAULT_KEY


def vault_passwords(folder: Path) -> dict[str, str]:
    """The temporary passwords a state folder's vault holds, opened with the tests' key."""
    from cryptography.fernet import Fernet

    from tenantmove.workloads.passwords import read_vault

    return read_vault(folder, Fernet(VAULT_KEY.encode()))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    from tenantmove.sandbox import Sandbox

    folder = tmp_path_factory.mktemp("sandbox")
    with Sandbox(folder) as sb:
        yield sb


@pytest.fixture(autouse=True)
def quiet_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the sandbox starts and ends with the knobs at rest."""
    if "sandbox" not in request.fixturenames:
        yield
        return
    sb: Sandbox = request.getfixturevalue("sandbox")
    sb.set_knobs(**QUIET_KNOBS)
    yield
    sb.set_knobs(**QUIET_KNOBS)


def tenant_config(side: str, **overrides: str) -> TenantConfig:
    base = {"source": dict(tenant="contoso.onmicrosoft.com", client_id=SOURCE_APP, secret_env="TENANTMOVE_SOURCE_SECRET"),
            "target": dict(tenant="contosonew.onmicrosoft.com", client_id=TARGET_APP,
                           secret_env="TENANTMOVE_TARGET_SECRET"),
            "fabrikam": dict(tenant="fabrikam.onmicrosoft.com", client_id="7d9f1b3c-5e6a-4c8d-9f0a-2b3c4d5e6f04",
                             secret_env="TENANTMOVE_FABRIKAM_SECRET")}[side]
    base.update(overrides)
    return TenantConfig(role="source" if side == "fabrikam" else side, **base)


def make_client(sb: Sandbox, side: str = "source", **client_kwargs: object) -> tuple[SignIn, GraphClient]:
    signin = SignIn(tenant_config(side), authority_host=sb.endpoints["authority_host"], verify=sb.ca_file)
    retry = client_kwargs.pop("retry", RetryPolicy(base=0.05, cap=0.5))
    client = GraphClient(signin, sb.endpoints["graph_url"], verify=sb.ca_file, retry=retry, **client_kwargs)
    return signin, client


@pytest.fixture
def fresh_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """For tests that change the tenants: the seed (and its DNS) before and after."""
    sandbox.admin("POST", "reset", json={"scale": 1})
    sandbox.set_knobs(force_delete_seconds=0.2)
    yield sandbox
    sandbox.admin("POST", "reset", json={"scale": 1})


@pytest.fixture
def source_client(sandbox: Sandbox) -> GraphClient:
    return make_client(sandbox, "source")[1]


@pytest.fixture
def target_client(sandbox: Sandbox) -> GraphClient:
    return make_client(sandbox, "target")[1]


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def project_copy(tmp_path: Path) -> Path:
    """A scratch folder with the notebooks and parameter files, for runner tests."""
    dest = tmp_path / "project"
    shutil.copytree(ROOT / "notebooks", dest / "notebooks")
    shutil.copytree(ROOT / "parameters", dest / "parameters")
    return dest


def grep_tree(folder: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in data]
    return hits
