"""Signing a run's manifest with the organisation's certificate: ``MANIFEST.sha256.sig`` (RSA-PSS or ECDSA over
SHA-256) and the certificate beside it, so that an auditor can see who vouched for the folder, and that
nothing in it changed since. The private key's password comes from an environment variable whose name is
given; the key never leaves its file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ..errors import ConfigFileError
from ..services.auth import load_key_pair

SIGNATURE = "MANIFEST.sha256.sig"
CERTIFICATE = "MANIFEST.sha256.cert.pem"
OUTSIDE_MANIFEST = {SIGNATURE, CERTIFICATE}  # written after the manifest, checked by their own means


def sign_bytes(key: Any, data: bytes, where: str = "--key") -> bytes:
    """``data`` signed with an RSA (PSS) or EC (ECDSA) key, over SHA-256."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    raise ConfigFileError("an RSA or EC key is needed", where=where, hint="use an RSA or EC key")


def verify_bytes(cert: x509.Certificate, signature: bytes, data: bytes) -> str:
    """'' when ``signature`` is the certificate's key's over ``data``; otherwise what is wrong."""
    public = cert.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.MAX_LENGTH),
                          hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            return "an unsupported key type"
    except InvalidSignature:
        return "the signature does not match"
    return ""


def sign(run_dir: Path, key_file: Path, password_env: str = "") -> str:
    """Sign ``run_dir``'s manifest; returns the certificate's subject."""
    key, cert = load_key_pair(str(key_file), password_env, "--key", "--password-env")
    signature = sign_bytes(key, (run_dir / "MANIFEST.sha256").read_bytes(), str(key_file))
    (run_dir / SIGNATURE).write_bytes(signature)
    (run_dir / CERTIFICATE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.subject.rfc4514_string()


def check(run_dir: Path) -> tuple[list[str], str]:
    """(problems, who signed) — nothing when the run is not signed."""
    sig, cert_file = run_dir / SIGNATURE, run_dir / CERTIFICATE
    if not sig.is_file():
        return [], ""
    if not cert_file.is_file():
        return [f"{SIGNATURE} without {CERTIFICATE}: the signer cannot be checked"], ""
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    subject = cert.subject.rfc4514_string()
    wrong = verify_bytes(cert, sig.read_bytes(), (run_dir / "MANIFEST.sha256").read_bytes())
    if wrong == "the signature does not match":
        return [f"the manifest's signature does not match (signed by {subject}): the manifest changed after it was "
                "signed"], subject
    if wrong:
        return [f"{CERTIFICATE}: {wrong}"], subject
    return [], subject
