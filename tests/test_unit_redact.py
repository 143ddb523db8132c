import logging

from tenantmove.redact import MASK, RedactingFilter, redact, register_secret


def test_bearer_tokens_and_jwts_are_masked() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl"
    text = f"Authorization: Bearer {jwt} and again {jwt}"
    out = redact(text)
    assert jwt not in out
    assert "eyJ" not in out


def test_form_and_json_secrets_are_masked() -> None:
    out = redact('client_secret=abc123&scope=x {"access_token": "tok-value", "refresh_token": "r1"}')
    assert "abc123" not in out and "tok-value" not in out and "r1\"" not in out
    assert "scope=x" in out


def test_registered_secret_is_masked_anywhere() -> None:
    register_secret("unusual-secret-value-42")
    assert redact("it was unusual-secret-value-42!") == f"it was {MASK}!"


def test_logging_filter_redacts_arguments() -> None:
    register_secret("another-secret-777")
    record = logging.LogRecord("tenantmove.x", logging.INFO, __file__, 1, "value %s", ("another-secret-777",), None)
    RedactingFilter().filter(record)
    assert "another-secret-777" not in record.getMessage()
