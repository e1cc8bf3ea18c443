import json
import logging

from mooring.logs import REDACTED, JsonFormatter, redact

TOKEN = "ya29.a0AfH6SMBx-very-secret"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"


def _format(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.makeLogRecord(
        {"name": "t", "levelname": "INFO", "msg": message, "args": args, **extra}
    )
    line = JsonFormatter("svc").format(record)
    assert TOKEN not in line
    assert JWT not in line
    return json.loads(line)


def test_secrets_in_messages_are_scrubbed() -> None:
    entry = _format("calling with Authorization: Bearer %s", TOKEN)
    assert entry["message"] == f"calling with Authorization: Bearer {REDACTED}"
    assert REDACTED in redact(f"POST body access_token={TOKEN}&x=1")
    assert REDACTED in redact(f'{{"refresh_token": "{TOKEN}"}}')
    assert REDACTED in redact(f"session {JWT}")
    assert redact("https://app/cb?code=abc123&state=xyz") == (
        f"https://app/cb?code={REDACTED}&state={REDACTED}"
    )


def test_secret_named_fields_and_nested_values_are_scrubbed() -> None:
    entry = _format(
        "refreshed",
        access_token=TOKEN,
        response={"refresh_token": TOKEN, "expires_in": 3600},
        note=f"got {JWT}",
    )
    assert entry["access_token"] == REDACTED
    assert entry["response"] == {"refresh_token": REDACTED, "expires_in": 3600}
    assert entry["service"] == "svc"


def test_tracebacks_are_scrubbed() -> None:
    try:
        raise ValueError(f"upstream said access_token={TOKEN}")
    except ValueError:
        record = logging.makeLogRecord({"msg": "boom", "levelname": "ERROR"})
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter("svc").format(record)
    assert TOKEN not in line
    assert "ValueError" in line
