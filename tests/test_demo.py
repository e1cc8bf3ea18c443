"""`make demo`'s story against the whole system as OS processes, then a secret scan of all of it.

The simulator, the SMTP catcher and the five services run as processes (tests/system.py) on a
database and a topic prefix of their own; `run_demo` (deploy/local/demo_story.py) tells the story
against them exactly as `make demo` does against `make run`. The first test checks the story
from the outside: the events on Kafka, the accounts' rows, the 402, the notification, the
e-mail, the plan, the final connect and the removal. The second looks for every secret of the
run (each token and code the simulator issued, the vault key, the service token, the gateway's
secret and the gateway tokens the demo signed) in every answer a Mooring service gave the demo,
every record of every topic of the run (dead-letter topics included), every process's log and
the jobs' output, every e-mail (raw and decoded) and every service's /metrics.

The simulator's own answers are not scanned: its redirect to the callback carries the
authorization code, which is how OAuth works.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer

from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import temporary_database

from .system import SERVICES, System, running_system

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "local"))
from demo_story import DemoFailedError, DemoResult, Endpoints, run_demo

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.connected]

_MIN_SECRET = 12  # shorter values (none is) would match by accident
# The summary e-mail waits this long to gather a check run's failures (60 s under make run).
_DIGEST_SETTLE_S = "2"


@dataclass
class Demo:
    system: System
    result: DemoResult
    output: str
    database: DatabaseSettings

    async def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.database.libpq_url) as conn:
            cursor = await conn.execute(statement, params)
            return await cursor.fetchall()


@pytest.fixture(scope="module")
async def demo(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Demo]:
    # A database of its own: the daily check and the refresh sweep walk every account, and the
    # session's database holds other tests' accounts, from simulators long gone.
    logs = tmp_path_factory.mktemp("demo")
    extra = {"NOTIFIER_DIGEST_SETTLE_S": _DIGEST_SETTLE_S}
    with temporary_database(database_settings, "mooring_demo") as database:
        async with running_system(
            database, kafka_settings, logs, label="demo", extra_env=extra
        ) as system:
            urls = system.urls
            endpoints = Endpoints(
                connector=urls["connector"],
                token_keeper=urls["token_keeper"],
                health_checker=urls["health_checker"],
                notifier=urls["notifier"],
                billing_gate=urls["billing_gate"],
                sim=urls["sim"],
                mail_dir=system.mail_dir,
                service_token=system.service_token,
                service_env=system.env,
            )
            out = StringIO()
            try:
                result = await run_demo(endpoints, out)
            except DemoFailedError as exc:
                logs_tail = "\n".join(
                    f"--- {name}\n{system.log(name)[-3000:]}"
                    for name in [*SERVICES, "platform-sim"]
                )
                pytest.fail(f"{exc}\n{out.getvalue()}\n{logs_tail}")
            yield Demo(system, result, out.getvalue(), database)


async def topic_records(bootstrap: str, prefix: str) -> dict[str, list[Any]]:
    """Every record of every topic under the prefix, from the beginning, by topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: dict[str, list[Any]] = {}
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith(prefix))
        consumer.subscribe(topics)
        deadline = time.monotonic() + 30
        while {tp.topic for tp in consumer.assignment()} != set(topics):
            assert time.monotonic() < deadline, "the run's topics were not assigned in time"
            await asyncio.sleep(0.1)
        partitions = list(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        found = {topic: [] for topic in topics}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                found[tp.topic] += records
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return found


@pytest.mark.timeout(900)
async def test_the_demo_tells_the_whole_story(demo: Demo) -> None:
    result = demo.result
    ids = result.accounts
    assert set(ids) == {"x", "facebook", "youtube", "linkedin", "tiktok", "pinterest"}

    # Kafka: what each step should have caused, keyed by the account it is about.
    seen = {(e.type, e.key) for e in result.events}
    assert seen == {
        *{("account.connected", account_id) for account_id in ids.values()},
        ("token.expiring", ids["youtube"]),
        ("token.refreshed", ids["youtube"]),
        ("account.disconnected", ids["x"]),
        ("account.disconnected", ids["tiktok"]),
    }, seen
    disconnects = {e.key: e.payload for e in result.events if e.type == "account.disconnected"}
    assert disconnects[ids["x"]]["reason"] == "revoked"
    assert disconnects[ids["x"]]["status"] == "token_expired"
    assert disconnects[ids["x"]]["check_run_id"] == result.check_run_id
    assert disconnects[ids["tiktok"]]["reason"] == "removed"
    refreshed = [e for e in result.events if e.type == "token.refreshed"]
    assert {e.payload["platform"] for e in refreshed} == {"youtube"}
    assert not [e for e in result.events if e.dead_letter]
    prefix = demo.system.env["KAFKA_TOPIC_PREFIX"]
    records = await topic_records(demo.system.env["KAFKA_BOOTSTRAP_SERVERS"], prefix)
    assert {t: len(r) for t, r in records.items() if t.endswith(".dlq") and r} == {}

    # The accounts' rows: the revoked X account kept (token_expired, its owner told to
    # reconnect it), TikTok's row gone, the others connected.
    rows = await demo.sql(
        "SELECT id::text, platform, status FROM accounts WHERE workspace_id = %s",
        result.workspace_id,
    )
    assert {platform: status for _, platform, status in rows} == {
        "x": "token_expired",
        "facebook": "connected",
        "youtube": "connected",
        "linkedin": "connected",
        "pinterest": "connected",
    }
    assert {row[0] for row in rows} == set(ids.values()) - {ids["tiktok"]}
    assert result.statuses == {
        "x": "token_expired",
        "facebook": "connected",
        "youtube": "connected",
        "linkedin": "connected",
        "tiktok": "removed",
        "pinterest": "connected",
    }

    # The cap, the plan change and the connect that then fitted.
    refused = result.refused
    assert refused["type"] == "urn:mooring:problem:plan-limit-reached"
    assert refused["status"] == 402
    assert (refused["plan"], refused["limit"], refused["used"]) == ("starter", 5, 5)
    assert refused["upgrade_to"] == "plus"
    assert (result.plan["plan"], result.plan["limit"], result.plan["applied"]) == ("plus", 10, True)
    plans = await demo.sql(
        "SELECT plan FROM billing_workspaces WHERE workspace_id = %s", result.workspace_id
    )
    assert plans == [("plus",)]
    assert (result.usage["plan"], result.usage["used"], result.usage["limit"]) == ("plus", 5, 10)

    # The owner was told: in-app, and by one e-mail summarising the check run.
    note = result.notification
    assert (note["kind"], note["account_id"]) == ("account_disconnected", ids["x"])
    assert note["data"]["check_run_id"] == result.check_run_id
    assert result.email is not None
    assert result.email.parent == demo.system.mail_dir
    mail = message_from_bytes(result.email.read_bytes())
    assert result.owner_email in mail["To"]
    assert mail["Subject"] == "X account needs to be reconnected"
    bodies = [
        part.get_payload(decode=True).decode()
        for part in mail.walk()
        if part.get_content_type() in {"text/plain", "text/html"}
    ]
    assert len(bodies) == 2
    reconnect = f"/workspaces/{result.workspace_id}/accounts/{ids['x']}/reconnect"
    assert all(reconnect in body and "revoked" in body for body in bodies)
    mails_to_owner = [
        path
        for path in demo.system.mail_dir.glob("*.eml")
        if result.owner_email in (message_from_bytes(path.read_bytes())["To"] or "")
    ]
    assert mails_to_owner == [result.email]  # one summary, nothing else

    # What the person saw: each step, and the events as they came.
    assert "[1] Watch the events" in demo.output
    assert "event  account.connected" in demo.output
    assert "402 urn:mooring:problem:plan-limit-reached" in demo.output


@pytest.mark.timeout(900)
async def test_no_secret_in_any_response_topic_log_mail_or_metrics(demo: Demo) -> None:
    system, result = demo.system, demo.result
    async with httpx.AsyncClient(timeout=10) as client:
        issued = (await client.get(f"{system.urls['sim']}/_control/secrets")).json()
        metrics = [
            (await client.get(f"{system.urls[package]}/metrics")).text for package in SERVICES
        ]
    from_sim = {
        value
        for kind in ("tokens", "codes", "passwords")
        for value in issued[kind]
        if len(value) >= _MIN_SECRET
    }
    assert len(from_sim) >= 10, "the run issued too few tokens for the scan to mean anything"
    vault_keys = [k.split(":", 1)[1] for k in system.env["MOORING_VAULT_KEYS"].split(",")]
    secrets = dict.fromkeys(from_sim, "simulator") | {
        **dict.fromkeys(vault_keys, "vault key"),
        system.service_token: "service token",
        system.gateway_secret: "gateway secret",
        **dict.fromkeys(result.gateway_tokens, "gateway token"),
    }

    records = await topic_records(
        system.env["KAFKA_BOOTSTRAP_SERVERS"], system.env["KAFKA_TOPIC_PREFIX"]
    )
    kafka = [
        part.decode(errors="replace")
        for topic in records.values()
        for record in topic
        for part in [record.key or b"", record.value or b"", *(bytes(v) for _, v in record.headers)]
    ]
    logs = [path.read_text(errors="replace") for path in sorted(system.logs.glob("*.log"))]
    mails = []
    for path in sorted(system.mail_dir.glob("*.eml")):
        raw = path.read_bytes()
        mails.append(raw.decode(errors="replace"))
        # Bodies travel encoded (quoted-printable, base64): a raw scan alone could miss one.
        mails += [
            part.get_payload(decode=True).decode(errors="replace")
            for part in message_from_bytes(raw).walk()
            if not part.is_multipart()
        ]
    haystacks = {
        "response": result.responses,
        "kafka": kafka,
        "log": [*logs, *result.job_outputs, demo.output],
        "mail": mails,
        "metrics": metrics,
    }
    assert len(haystacks["response"]) >= 30
    assert len(haystacks["kafka"]) >= 30
    assert len(logs) == len(SERVICES) + 2  # the services, the simulator, the SMTP catcher
    assert all(system.log(package) for package in SERVICES)
    assert len(result.job_outputs) >= 2
    assert mails
    assert all("mooring_" in text for text in metrics)

    leaks = [
        (where, kind, secret[:6] + "…")
        for where, texts in haystacks.items()
        for text in texts
        for secret, kind in secrets.items()
        if secret in text
    ]
    assert leaks == [], leaks
