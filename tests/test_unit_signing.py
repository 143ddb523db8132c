"""Signing a run's manifest with the organisation's certificate, and verify checking it (no sandbox)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tenantmove.runbook import audit
from tenantmove.runbook.runner import main


def org_key(path: Path, password: bytes) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Contoso migration office")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(password))
                     + cert.public_bytes(serialization.Encoding.PEM))


def test_a_signed_manifest_verifies_and_a_changed_one_does_not(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    (run / "00_prepare").mkdir(parents=True)
    (run / "00_prepare" / "evidence.csv").write_text("a,b\n1,2\n")
    audit.write_manifest(run)
    org_key(tmp_path / "org.pem", b"s3cret-pw")
    monkeypatch.setenv("TM_TEST_KEY_PASSWORD", "s3cret-pw")
    assert main(["sign", str(run), "--key", str(tmp_path / "org.pem"), "--password-env", "TM_TEST_KEY_PASSWORD"]) == 0
    assert main(["verify", str(run)]) == 0
    out = capsys.readouterr().out
    assert "signed by CN=Contoso migration office" in out and "intact" in out
    assert "s3cret-pw" not in out
    (run / "00_prepare" / "evidence.csv").write_text("a,b\n1,3\n")
    audit.write_manifest(run)  # the file changed and the manifest rewritten to match: the signature no longer does
    assert main(["verify", str(run)]) == 1
    assert "signature does not match" in capsys.readouterr().out
