"""A poison record on every consumed topic goes to `<topic>.dlq` with its reason, once per
consuming group, and the good events behind it on the same partition still take effect.

The consumed topics and their groups come from each service's composition root, so a topic a
service starts consuming is covered without editing this test.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import (
    ALL_EVENTS,
    AccountConnected,
    AccountDisconnected,
    AccountUpdated,
    Envelope,
    Event,
    PostFailed,
    PostPublished,
    PostPublishing,
    PostStuck,
    TokenExpiring,
    TokenRefreshed,
    WorkspaceOwnerChanged,
    WorkspacePlanChanged,
    utcnow,
)
from mooring.testing import header, read_topic
from tests.system import SERVICES, System

from .helpers import Raw, cloudevent, produce_raw, scalar, wait_until

POISON = "x-poison"  # which poison a dead letter is: kept through the DLQ with every header


def good(model: type[Event], key: uuid.UUID) -> Envelope[Any]:
    """A valid event of `model` that every consumer of it accepts, keyed by `key`."""
    now = utcnow()
    ids = {"account_id": key, "workspace_id": uuid.uuid4()}
    post = {"post_id": key, "delivery_id": uuid.uuid4(), "account_id": uuid.uuid4()}
    post |= {"workspace_id": uuid.uuid4(), "platform": "x", "at": now}
    payloads: dict[type[Event], Callable[[], Event]] = {
        AccountConnected: lambda: AccountConnected(
            **ids, platform="x", platform_account_id="p", connected_at=now
        ),
        AccountUpdated: lambda: AccountUpdated(
            **ids, platform="x", active=False, changed=["active"], updated_at=now
        ),
        AccountDisconnected: lambda: AccountDisconnected(
            **ids, platform="x", platform_account_id="p", reason="removed", disconnected_at=now
        ),
        TokenExpiring: lambda: TokenExpiring(
            **ids,
            platform="facebook",
            expires_at=now + timedelta(days=3),
            refreshable=False,
            reminder_days=3,
        ),
        TokenRefreshed: lambda: TokenRefreshed(
            **ids, platform="x", expires_at=now, refreshed_at=now
        ),
        PostStuck: lambda: PostStuck(
            post_id=key,
            delivery_id=uuid.uuid4(),
            account_id=uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            platform="x",
            decision="retry",
            attempt=1,
            publishing_since=now - timedelta(hours=2),
            reason="stuck",
        ),
        WorkspacePlanChanged: lambda: WorkspacePlanChanged(
            workspace_id=key, plan="pro", changed_at=now - timedelta(minutes=1)
        ),
        WorkspaceOwnerChanged: lambda: WorkspaceOwnerChanged(
            workspace_id=key,
            owner_user_id=uuid.uuid4(),
            owner_email="owner@example.com",
            changed_at=now - timedelta(minutes=1),
        ),
        PostPublishing: lambda: PostPublishing(**post),
        PostPublished: lambda: PostPublished(**post),
        PostFailed: lambda: PostFailed(**post, error="refused"),
    }
    source = "mooring/health-checker" if model is PostStuck else "mooring/connector"
    if model is TokenExpiring:
        source = "mooring/token-keeper"
    return Envelope(payload=payloads[model](), source=source)


def poisons(model: type[Event], key: uuid.UUID) -> dict[str, tuple[Raw, str]]:
    """Poison name -> (the record, what its `dlq-error` must say)."""
    _, body, headers = cloudevent(good(model, key))
    plain = dict(headers)
    other = "post.published" if model.event_type != "post.published" else "post.failed"

    def record(name: str, value: bytes, changed: dict[str, bytes | None]) -> Raw:
        kept = {k: v for k, v in (plain | changed).items() if v is not None}
        return str(key).encode(), value, [*kept.items(), (POISON, name.encode())]

    return {
        "malformed-body": (record("malformed-body", b'{"account_id": ', {}), "body is not JSON"),
        "wrong-schema": (
            record("wrong-schema", json.dumps({"schema_version": 2, "id": 7}).encode(), {}),
            f"payload is not a valid {model.event_type}",
        ),
        "missing-ce-id": (
            record("missing-ce-id", body, {"ce_id": None}),
            "missing CloudEvents header(s): ce_id",
        ),
        "wrong-ce-type": (
            record("wrong-ce-type", body, {"ce_type": other.encode()}),
            f"ce_type is '{other}'",
        ),
        "unknown-specversion": (
            record("unknown-specversion", body, {"ce_specversion": b"0.3"}),
            "ce_specversion is '0.3'",
        ),
    }


def consumers() -> dict[str, set[str]]:
    """Event type -> the services consuming it, read from each composition root."""
    out: dict[str, set[str]] = {}
    for package in SERVICES:
        runtime = importlib.import_module(f"{package}.main").create_app().state.runtime
        for event_type in runtime.consumed_events():
            out.setdefault(event_type, set()).add(runtime.name)
    return out


@pytest.mark.timeout(180)
async def test_every_poison_is_dead_lettered_with_its_reason_and_good_events_still_flow(
    system: System, failure_engine: AsyncEngine
) -> None:
    bootstrap = system.env["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    consumed = consumers()
    models = {m.event_type: m for m in ALL_EVENTS}
    # token.refreshed is the only contract event nobody consumes (it is for publishers).
    assert set(models) - set(consumed) == {"token.refreshed"}

    expected: dict[str, dict[str, str]] = {}
    goods: dict[str, list[uuid.UUID]] = {}
    keys: dict[str, bytes] = {}
    for event_type in consumed:
        key = uuid.uuid4()
        keys[event_type] = str(key).encode()
        before, after = good(models[event_type], key), good(models[event_type], key)
        bad = poisons(models[event_type], key)
        expected[event_type] = {name: reason for name, (_, reason) in bad.items()}
        goods[event_type] = [before.id, after.id]
        # One key, so one partition: the good event after the poisons is behind them.
        records = [cloudevent(before), *(r for r, _ in bad.values()), cloudevent(after)]
        await produce_raw(bootstrap, prefix + event_type, records)

    for event_type, services in consumed.items():
        groups = {prefix + service for service in services}
        want = len(expected[event_type]) * len(groups)
        # Only this test's records: the session's other tests share the topics.
        letters = [
            r
            for r in await read_topic(
                bootstrap,
                f"{prefix}{event_type}.dlq",
                until=lambda rs, want=want, key=keys[event_type]: (
                    sum(r.key == key for r in rs) >= want
                ),
                timeout_s=60,
            )
            if r.key == keys[event_type]
        ]
        assert len(letters) == want, (event_type, [header(r, "dlq-error") for r in letters])
        seen = set()
        for letter in letters:
            poison, group = header(letter, POISON), header(letter, "dlq-consumer-group")
            assert poison is not None
            assert group in groups
            seen.add((poison, group))
            assert expected[event_type][poison] in (header(letter, "dlq-error") or ""), poison
            assert header(letter, "dlq-error-type") == "MalformedEventError"
            assert header(letter, "dlq-attempts") == "0"  # never retried: it cannot get better
            assert header(letter, "dlq-original-topic") == prefix + event_type
        assert seen == {(p, g) for p in expected[event_type] for g in groups}

        async def flowed(event_type: str = event_type, groups: set[str] = groups) -> bool:
            marked = await scalar(
                failure_engine,
                "SELECT count(*) FROM inbox WHERE event_id = ANY(:ids) AND consumer = ANY(:gs)",
                ids=goods[event_type],
                gs=list(groups),
            )
            return int(marked) == 2 * len(groups)

        await wait_until(flowed, timeout_s=30, what=f"{event_type}: the good events handled")
