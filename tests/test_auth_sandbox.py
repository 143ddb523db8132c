"""Sign-in with msal against the sandbox's login service over HTTPS."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tenantmove.errors import ServiceUnreachable, SignInError
from tenantmove.sandbox import Sandbox
from tenantmove.services.auth import SignIn, decode_claims
from tenantmove.services.graph import GraphClient

from .conftest import SOURCE_APP, tenant_config


def signin(sb: Sandbox, side: str = "source", prompt: Any = None, **overrides: str) -> SignIn:
    return SignIn(tenant_config(side, **overrides), authority_host=sb.endpoints["authority_host"],
                  verify=sb.ca_file, prompt=prompt)


def test_client_secret_sign_in_gives_an_app_token(sandbox: Sandbox) -> None:
    s = signin(sandbox)
    claims = s.sign_in()
    assert claims["tid"] == sandbox.tenant("old")["id"]
    assert "User.ReadWrite.All" in s.granted()
    assert s.identity()["kind"] == "application"


def test_env_ca_bundle_does_not_replace_the_explicit_ca(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # a bundle that does NOT contain the sandbox CA, in the variables requests obeys
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with pytest.raises(requests.exceptions.SSLError):  # what a plain session does with them
        s = requests.Session()
        s.verify = sandbox.ca_file
        s.get(sandbox.endpoints["admin_url"] + "/health")
    assert signin(sandbox).sign_in()["tid"]  # ours still verifies against the sandbox CA


def test_wrong_secret_is_a_clear_error(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRONG_SECRET_FOR_TEST", "not-the-secret")
    with pytest.raises(SignInError) as info:
        signin(sandbox, secret_env="WRONG_SECRET_FOR_TEST").token()
    assert "invalid_client" in str(info.value) and "HINT" in str(info.value)
    assert "not-the-secret" not in str(info.value)


def test_unset_secret_variable_is_named(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_SECRET_FOR_TEST", raising=False)
    with pytest.raises(SignInError) as info:
        signin(sandbox, secret_env="UNSET_SECRET_FOR_TEST").token()
    assert info.value.where == "source.secret_env"
    assert "UNSET_SECRET_FOR_TEST is not set" in info.value.message


def test_unknown_tenant_is_named(sandbox: Sandbox) -> None:
    with pytest.raises(SignInError) as info:
        signin(sandbox, tenant="nosuchtenant.onmicrosoft.com").token()
    assert info.value.where == "source.tenant"
    assert "does not exist" in info.value.message


def test_no_service_listening_is_a_clear_error(sandbox: Sandbox) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    s = SignIn(tenant_config("source"), authority_host=f"https://127.0.0.1:{port}", verify=sandbox.ca_file)
    with pytest.raises(ServiceUnreachable, match="cannot reach"):
        s.token()


def _self_signed(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenantmove test app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    path = tmp_path / "app.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_certificate_sign_in(sandbox: Sandbox, tmp_path: Path) -> None:
    pem = _self_signed(tmp_path)
    s = signin(sandbox, auth="certificate", certificate_file=str(pem), secret_env="")
    with pytest.raises(SignInError, match="invalid_client"):  # not registered yet
        s.token()
    cert_pem = pem.read_bytes().split(b"-----END PRIVATE KEY-----\n")[1]
    sandbox.admin("POST", f"apps/{SOURCE_APP}/certificates", data=cert_pem)
    s = signin(sandbox, auth="certificate", certificate_file=str(pem), secret_env="")
    assert s.sign_in()["tid"] == sandbox.tenant("old")["id"]
    assert GraphClient(s, sandbox.endpoints["graph_url"], verify=sandbox.ca_file).get("organization")["value"]


def test_unreadable_certificate_is_named(sandbox: Sandbox, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a pem")
    from tenantmove.errors import ConfigFileError

    with pytest.raises(ConfigFileError) as info:
        signin(sandbox, auth="certificate", certificate_file=str(bad)).token()
    assert info.value.where == "source.certificate_file"


class PagePrompt:
    """Plays the admin: reads the printed code and enters it on the sandbox's device-login page."""

    def __init__(self, sb: Sandbox, user: str) -> None:
        self.sb, self.user = sb, user
        self.shown: list[dict[str, Any]] = []
        self.statuses: list[str] = []

    def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None:
        self.shown.append(flow)

        def enter_code() -> None:
            page = requests.get(flow["verification_uri"], verify=self.sb.ca_file, timeout=10)
            assert "Enter code" in page.text
            done = requests.post(flow["verification_uri"], data={"code": flow["user_code"], "username": self.user},
                                 verify=self.sb.ca_file, timeout=10)
            assert "You are signed in" in done.text

        threading.Timer(0.3, enter_code).start()

    def status(self, text: str, waiting: bool = False) -> None:
        self.statuses.append(text)


def test_device_code_flow_through_the_sign_in_page(sandbox: Sandbox) -> None:
    prompt = PagePrompt(sandbox, "admin@contoso.onmicrosoft.com")
    s = signin(sandbox, prompt=prompt, auth="device_code", secret_env="")
    claims = s.sign_in()
    assert prompt.shown and re.fullmatch(r"[A-Z0-9]{9}", prompt.shown[0]["user_code"])
    assert claims["upn"] == "admin@contoso.onmicrosoft.com" and "scp" in claims
    assert any("waiting" in t for t in prompt.statuses)
    assert s.identity()["kind"] == "delegated"
    first = s.token()
    again = s.token(force_refresh=True)  # refresh token, no second device code
    assert again != first and len(prompt.shown) == 1
    assert decode_claims(again)["upn"] == "admin@contoso.onmicrosoft.com"


def test_device_code_approved_through_admin_api(sandbox: Sandbox) -> None:
    class AdminApprove:
        def show(self, role: str, tenant: str, flow: dict[str, Any]) -> None:
            sandbox.admin("POST", "device/approve", json={"user_code": flow["user_code"],
                                                          "user": "admin@contosonew.onmicrosoft.com"})

        def status(self, text: str, waiting: bool = False) -> None:
            pass

    s = signin(sandbox, "target", prompt=AdminApprove(), auth="device_code", secret_env="")
    assert s.sign_in()["tid"] == sandbox.tenant("new")["id"]


def test_printed_prompt_shows_link_and_code(capsys: pytest.CaptureFixture[str]) -> None:
    from tenantmove.services.auth import PrintedPrompt

    PrintedPrompt().show("source", "contoso.onmicrosoft.com",
                         {"verification_uri": "https://x/devicelogin", "user_code": "ABCDEFGHI", "expires_in": 900})
    out = capsys.readouterr().out
    assert "https://x/devicelogin" in out and "ABCDEFGHI" in out
