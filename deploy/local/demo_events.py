"""The demo's window on Kafka: every contract topic and its dead letters, from the demo's start.

`EventTail` reads every partition of every event topic (and `<topic>.dlq`) under the run's
prefix, without a consumer group, from the end offsets it found when it started: what the demo
sees is what happened while it ran. Events of the demo's own workspace are printed as they
arrive (type, key, a line of the payload's non-secret fields, never the payload as a whole) and
kept for the summary; the rest (other workspaces on a shared stack) are only counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from mooring.events import ALL_EVENTS, dlq_topic

__all__ = ["EventTail", "SeenEvent", "summary"]

_ASSIGN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SeenEvent:
    type: str  # the event type; a dead letter keeps its original type
    key: str
    payload: dict[str, Any]
    dead_letter: bool = False
    error_type: str | None = None  # a dead letter's `dlq-error-type`


def _short(value: Any) -> str:
    return str(value)[:8] if value else "-"


def summary(event: SeenEvent) -> str:  # noqa: PLR0911 - one line per event type
    """One line about the event from fields that are never secret (payloads carry no token)."""
    p = event.payload
    platform = p.get("platform", "")
    match event.type:
        case "account.connected":
            who = p.get("display_name") or p.get("username") or p.get("platform_account_id")
            again = " (reconnected)" if p.get("reconnected") else ""
            return f"{platform} {who} connected{again}"
        case "account.updated":
            return f"{platform} {', '.join(p.get('changed', []))} changed: status {p.get('status')}"
        case "account.disconnected":
            run = f", check run {_short(p.get('check_run_id'))}" if p.get("check_run_id") else ""
            return f"{platform} {p.get('reason')} -> {p.get('status') or 'removed'}{run}"
        case "token.expiring":
            kind = "refresh due" if p.get("refreshable") else "reconnect reminder"
            return f"{platform} expires {p.get('expires_at')}: {kind}"
        case "token.refreshed":
            return f"{platform} refreshed, now expires {p.get('expires_at') or 'never'}"
        case "workspace.plan_changed":
            return f"plan {p.get('plan')}"
        case "workspace.owner_changed":
            return "owner changed"
        case _:
            return f"{platform} post {_short(p.get('post_id'))} attempt {p.get('attempt')}"


def _header(headers: Any, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return bytes(value).decode(errors="replace")
    return None


class EventTail:
    def __init__(
        self, bootstrap_servers: str, topic_prefix: str, workspace_id: uuid.UUID, out: TextIO
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic_prefix = topic_prefix
        self.workspace_id = workspace_id
        self.out = out
        self.seen: list[SeenEvent] = []
        self.others = 0  # events of other workspaces, not shown
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self._failure: BaseException | None = None

    def _topics(self) -> dict[str, str]:
        """Topic name -> event type, for every event topic and its dead-letter topic."""
        types = [model.event_type for model in ALL_EVENTS]
        names = {f"{self.topic_prefix}{t}": t for t in types}
        return names | {f"{self.topic_prefix}{dlq_topic(t)}": t for t in types}

    async def start(self) -> None:
        """Subscribe to every topic that exists and pin each partition at its end offset."""
        topics = self._topics()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="mooring-demo",
        )
        await consumer.start()
        self._consumer = consumer
        existing = sorted(set(topics) & await consumer.topics())
        if not existing:
            raise RuntimeError(
                f"no event topics under the prefix {self.topic_prefix!r} on {self.bootstrap_servers}"
            )
        consumer.subscribe(existing)
        deadline = time.monotonic() + _ASSIGN_TIMEOUT_S
        while {tp.topic for tp in consumer.assignment()} != set(existing):
            if time.monotonic() > deadline:
                raise TimeoutError("the event topics' partitions were not assigned in time")
            await asyncio.sleep(0.1)
        # The position of a partition is looked up lazily; asking now makes it "the end as of
        # the demo's start", so nothing the story causes can slip in before the first fetch.
        for tp in consumer.assignment():
            await consumer.position(tp)
        self._task = asyncio.create_task(self._run(topics), name="demo-event-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self, topics: dict[str, str]) -> None:
        assert self._consumer is not None  # noqa: S101 - started before the task
        try:
            while True:
                batch = await self._consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        self._take(topics, record)
        except (OSError, RuntimeError, ValueError, KafkaError) as exc:
            # The waiters report it, instead of timing out without saying why.
            self._failure = exc
            self._arrived.set()

    def _take(self, topics: dict[str, str], record: Any) -> None:
        dead = record.topic.endswith(".dlq")
        try:
            payload = json.loads(record.value or b"{}")
        except ValueError:
            payload = {}
        if not isinstance(payload, dict) or payload.get("workspace_id") != str(self.workspace_id):
            self.others += 1
            return
        event = SeenEvent(
            type=topics.get(record.topic, record.topic),
            key=(record.key or b"").decode(errors="replace"),
            payload=payload,
            dead_letter=dead,
            error_type=_header(record.headers, "dlq-error-type") if dead else None,
        )
        self.seen.append(event)
        if dead:
            line = f"DEAD LETTER of {event.type}: {event.error_type}"
        else:
            line = f"{event.type:<22} key {event.key[:8]}  {summary(event)}"
        print(f"      event  {line}", file=self.out, flush=True)
        self._arrived.set()

    async def wait_for(
        self,
        event_type: str,
        key: str,
        *,
        timeout_s: float,
        where: Callable[[SeenEvent], bool] = lambda _: True,
    ) -> SeenEvent:
        """The first event of this type and key (seen already or still to come) that fits."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.seen:
                if (event.type, event.key, event.dead_letter) == (event_type, key, False) and where(
                    event
                ):
                    return event
            if self._failure is not None:
                raise RuntimeError(f"reading the event topics failed: {self._failure!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {event_type} for {key} within {timeout_s:.0f} s")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
