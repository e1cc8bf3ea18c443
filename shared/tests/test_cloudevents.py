import json
import uuid

import pytest

from mooring.events import AccountDisconnected, Envelope, utcnow
from mooring.messaging.cloudevents import MalformedEventError, decode, encode_body, encode_headers


def _envelope() -> Envelope[AccountDisconnected]:
    return Envelope(
        payload=AccountDisconnected(
            account_id=uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            platform="x",
            platform_account_id="42",
            reason="revoked",
            disconnected_at=utcnow(),
        ),
        source="token-keeper",
    )


def test_binary_mode_round_trip_keeps_id_type_subject_and_payload() -> None:
    envelope = _envelope()
    headers = encode_headers(envelope)
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "account.disconnected"
    assert headers["ce_subject"] == str(envelope.payload.account_id)
    assert headers["content-type"] == "application/json"
    back = decode(AccountDisconnected, headers, encode_body(envelope))
    assert back.id == envelope.id
    assert back.payload == envelope.payload
    assert back.key == str(envelope.payload.account_id)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, b: (h | {"ce_id": ""}, b), "missing CloudEvents header"),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != "ce_specversion"}, b),
            "missing CloudEvents header.*ce_specversion",
        ),
        (lambda h, b: (h | {"ce_specversion": "0.3"}, b), "ce_specversion is '0.3'; only 1.0"),
        (lambda h, b: (h | {"ce_type": "account.connected"}, b), "this topic carries"),
        (lambda h, b: (h | {"ce_time": "yesterday"}, b), "bad CloudEvents attribute"),
        (lambda h, b: (h, b"{not json"), "not JSON"),
        (
            lambda h, b: (h, json.dumps({"reason": "revoked"}).encode()),
            "account_id: Field required",
        ),
    ],
)
def test_malformed_messages_say_what_is_wrong(mutate, message: str) -> None:
    envelope = _envelope()
    headers, body = mutate(encode_headers(envelope), encode_body(envelope))
    with pytest.raises(MalformedEventError, match=message):
        decode(AccountDisconnected, headers, body)


def test_validation_errors_do_not_echo_input_values() -> None:
    envelope = _envelope()
    data = json.loads(encode_body(envelope))
    data["account_id"] = "sk-live-SECRET-looking-value"
    with pytest.raises(MalformedEventError) as info:
        decode(AccountDisconnected, encode_headers(envelope), json.dumps(data).encode())
    assert "SECRET" not in str(info.value)


def test_timestamps_without_a_time_zone_are_refused() -> None:
    envelope = _envelope()
    data = json.loads(encode_body(envelope))
    data["disconnected_at"] = "2026-11-29T00:00:00"  # whose midnight? refused, not guessed
    with pytest.raises(MalformedEventError, match="disconnected_at: Input should have timezone"):
        decode(AccountDisconnected, encode_headers(envelope), json.dumps(data).encode())
