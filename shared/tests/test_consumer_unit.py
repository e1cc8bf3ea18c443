"""EventConsumer's decisions, with a fake producer (delivery itself is tested on the real broker)."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.consumer import EventConsumer
from mooring.messaging.errors import RejectEvent, RetryLater
from mooring.settings import ConsumerSettings

FAST = ConsumerSettings(max_attempts=2, backoff_ms=0, infrastructure_backoff_ms=0)


@dataclass
class FakeRecord:
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    topic: str = "account.connected"
    partition: int = 0
    offset: int = 7
    key: bytes | None = b"k"


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def send_and_wait(
        self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None
    ):
        self.sent.append((topic, value, headers or []))


def good() -> FakeRecord:
    e = Envelope(
        payload=AccountConnected(
            account_id=uuid.uuid4(), workspace_id=uuid.uuid4(), platform="x",
            platform_account_id="1", connected_at=utcnow(),
        ),
        source="t",
    )  # fmt: skip
    return FakeRecord(encode_body(e), [(k, v.encode()) for k, v in encode_headers(e).items()])


def consumer(handler, producer: FakeProducer) -> EventConsumer[AccountConnected]:
    return EventConsumer(
        model=AccountConnected, group="g", producer=producer, settings=FAST, handler=handler
    )


async def test_a_null_header_value_is_dead_lettered_not_looped_on() -> None:
    producer = FakeProducer()
    record = good()
    record.headers = [*record.headers, ("x-null", None)]
    record.headers = [(k, None) if k == "ce_id" else (k, v) for k, v in record.headers]

    async def handler(_: Envelope[AccountConnected]) -> None:
        raise AssertionError("must not be called")

    await consumer(handler, producer).process(record)
    ((topic, _, headers),) = producer.sent
    assert topic == "account.connected.dlq"
    assert b"missing CloudEvents header(s): ce_id" in dict(headers)["dlq-error"]


async def test_infrastructure_errors_are_redelivered_not_dead_lettered() -> None:
    producer = FakeProducer()

    async def handler(_: Envelope[AccountConnected]) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("db restarting"))

    with pytest.raises(OperationalError):
        await consumer(handler, producer).process(good())
    assert producer.sent == []


async def test_dead_letter_errors_are_redacted_and_old_dlq_headers_replaced() -> None:
    producer = FakeProducer()
    calls = 0

    async def handler(_: Envelope[AccountConnected]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("GET https://graph.example/me?access_token=EAAB-secret-token failed")

    record = good()
    record.headers.append(("dlq-error", b"from an earlier life"))
    await consumer(handler, producer).process(record)
    assert calls == 2
    ((_, value, headers),) = producer.sent
    assert value == record.value
    names = [k for k, _ in headers]
    assert names.count("dlq-error") == 1
    error = dict(headers)["dlq-error"].decode()
    assert "EAAB-secret-token" not in error
    assert "access_token=[redacted]" in error
    assert dict(headers)["dlq-attempts"] == b"2"


async def test_a_rejected_event_is_dead_lettered_at_once_with_its_reason() -> None:
    producer = FakeProducer()
    calls = 0

    async def handler(_: Envelope[AccountConnected]) -> None:
        nonlocal calls
        calls += 1
        raise RejectEvent("changed_at is 3 days in the future")

    await consumer(handler, producer).process(good())
    assert calls == 1  # no retries: it can never apply
    ((topic, _, headers),) = producer.sent
    assert topic == "account.connected.dlq"
    assert dict(headers)["dlq-error"] == b"changed_at is 3 days in the future"
    assert dict(headers)["dlq-attempts"] == b"1"


async def test_retry_later_is_handed_to_the_entry_and_never_dead_lettered() -> None:
    producer = FakeProducer()
    calls = 0

    async def handler(_: Envelope[AccountConnected]) -> None:
        nonlocal calls
        calls += 1
        raise RetryLater("platform outage", after=timedelta(seconds=30))

    with pytest.raises(RetryLater) as raised:
        await consumer(handler, producer).process(good())
    assert calls == 1  # not the message's fault: no attempt budget spent
    assert raised.value.after == timedelta(seconds=30)
    assert producer.sent == []


@pytest.mark.parametrize(("version", "reason"), [(None, "ce_specversion"), ("0.3", "only 1.0")])
async def test_an_event_of_no_or_another_cloudevents_version_is_dead_lettered(
    version: str | None, reason: str
) -> None:
    producer = FakeProducer()
    record = good()
    record.headers = [(k, v) for k, v in record.headers if k != "ce_specversion"]
    if version is not None:
        record.headers.append(("ce_specversion", version.encode()))

    async def handler(_: Envelope[AccountConnected]) -> None:
        raise AssertionError("must not be applied")

    await consumer(handler, producer).process(record)
    ((topic, _, headers),) = producer.sent
    assert topic == "account.connected.dlq"
    assert reason.encode() in dict(headers)["dlq-error"]
