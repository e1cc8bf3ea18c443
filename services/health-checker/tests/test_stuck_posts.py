"""Stuck posts on the real stack: the publisher's events arrive through Kafka (duplicated, out
of order), the projection folds them, the sweep decides and `post.stuck` is read back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from health_checker.main import STUCK_JOB
from mooring.events import Envelope, PostFailed, PostPublished, PostPublishing, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]

PUBLISHER = "publisher-test"


def delivery_event(kind, account, *, post_id, delivery_id, attempt=1, ago=timedelta(hours=2)):
    return Envelope(
        kind(
            post_id=post_id,
            delivery_id=delivery_id,
            account_id=account.id,
            workspace_id=account.workspace_id,
            platform=account.platform,
            attempt=attempt,
            at=utcnow() - ago,
        ),
        source=PUBLISHER,
    )


async def projected(engine, delivery_id, **expected) -> dict:
    """Wait until the projection shows the delivery as expected."""
    row: dict = {}
    for _ in range(200):
        async with engine.connect() as conn:
            found = (
                await conn.execute(
                    text("SELECT * FROM hc_deliveries WHERE delivery_id = :id"),
                    {"id": delivery_id},
                )
            ).first()
        row = dict(found._mapping) if found is not None else {}
        if row and all(row.get(k) == v for k, v in expected.items()):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"projection never showed {expected}: {row}")


async def stuck_events(service, post_id, count) -> list[dict]:
    events = await service.events(
        "post.stuck", until=lambda es: len([e for e in es if e["post_id"] == str(post_id)]) >= count
    )
    return [e for e in events if e["post_id"] == str(post_id)]


async def test_a_stuck_delivery_is_retried_then_failed_after_the_maximum(
    sim, make_settings, start, hc_engine
) -> None:
    async with start(make_settings(stuck_max_attempts=2)) as service:
        account = await service.add("x", sim.mint("x", "stuck", 1)[0])
        post, delivery = uuid.uuid4(), uuid.uuid4()
        first = delivery_event(PostPublishing, account, post_id=post, delivery_id=delivery)
        await service.publish(first, first)  # the same event twice: the inbox drops the copy
        await projected(hc_engine, delivery, state="publishing", attempt=1)

        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"  # decides nothing more
        [retry] = await stuck_events(service, post, 1)
        assert (retry["decision"], retry["attempt"], retry["reason"]) == (
            "retry",
            1,
            "publishing_timed_out",
        )
        # the publisher retried (attempt 2) and that got stuck too: the maximum is reached
        await service.publish(
            delivery_event(PostPublishing, account, post_id=post, delivery_id=delivery, attempt=2)
        )
        await projected(hc_engine, delivery, attempt=2)
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        events = await stuck_events(service, post, 2)
        assert [(e["decision"], e["attempt"]) for e in events] == [("retry", 1), ("failed", 2)]
        assert events[1]["reason"] == "attempts_exhausted"

        sweep = (await service.http.get("/internal/v1/stuck-sweeps/latest")).json()
        assert sweep["status"] == "succeeded"
        assert sweep["counts"]["failed"] == 1
        for decision in ("retry", "failed"):
            stuck = await service.metric("mooring_health_stuck_posts_total", decision=decision)
            assert stuck == 1, decision


async def test_duplicates_and_late_events_never_reopen_a_finished_delivery(
    sim, make_settings, start, hc_engine
) -> None:
    async with start(make_settings()) as service:
        account = await service.add("x", sim.mint("x", "late", 1)[0])
        post, delivery = uuid.uuid4(), uuid.uuid4()
        publishing = delivery_event(PostPublishing, account, post_id=post, delivery_id=delivery)
        published = delivery_event(
            PostPublished, account, post_id=post, delivery_id=delivery, ago=timedelta(hours=1)
        )
        # published first, then the (older) publishing twice under new ids: a late arrival
        await service.publish(published)
        await projected(hc_engine, delivery, state="published")
        await service.publish(
            publishing,
            delivery_event(PostPublishing, account, post_id=post, delivery_id=delivery),
        )
        marker_post, marker = uuid.uuid4(), uuid.uuid4()
        await service.publish(
            delivery_event(PostFailed, account, post_id=marker_post, delivery_id=marker)
        )
        await projected(hc_engine, marker, state="failed")  # the late ones were handled too
        await projected(hc_engine, delivery, state="published")

        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        events = await service.events("post.stuck", until=lambda _: True, timeout_s=3)
        assert [e for e in events if e["post_id"] in {str(post), str(marker_post)}] == []


async def test_nothing_is_decided_while_a_delivery_of_the_post_is_in_flight(
    sim, make_settings, start, hc_engine
) -> None:
    async with start(make_settings()) as service:
        account = await service.add("x", sim.mint("x", "inflight", 1)[0])
        other = await service.add("tiktok", sim.mint("tiktok", "inflight", 1)[0])
        post, stuck, running = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await service.publish(
            delivery_event(PostPublishing, account, post_id=post, delivery_id=stuck),
            delivery_event(
                PostPublishing, other, post_id=post, delivery_id=running, ago=timedelta(minutes=5)
            ),
        )
        await projected(hc_engine, running, state="publishing")
        await projected(hc_engine, stuck, state="publishing")
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        sweep = (await service.http.get("/internal/v1/stuck-sweeps/latest")).json()
        assert sweep["counts"].get("waiting") == 1

        # the in-flight one finishes: the next sweep decides for the stuck one
        await service.publish(
            delivery_event(
                PostPublished, other, post_id=post, delivery_id=running, ago=timedelta(minutes=1)
            )
        )
        await projected(hc_engine, running, state="published")
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        [decided] = await stuck_events(service, post, 1)
        assert (decided["delivery_id"], decided["decision"]) == (str(stuck), "retry")


async def test_a_newer_attempt_in_flight_supersedes_the_stuck_one(
    sim, make_settings, start, hc_engine
) -> None:
    async with start(make_settings()) as service:
        account = await service.add("x", sim.mint("x", "newer", 1)[0])
        post, old, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        same_delivery = uuid.uuid4()
        await service.publish(
            # a retry that came as a new delivery of the same post and account
            delivery_event(PostPublishing, account, post_id=post, delivery_id=old),
            delivery_event(
                PostPublishing,
                account,
                post_id=post,
                delivery_id=new,
                attempt=2,
                ago=timedelta(minutes=3),
            ),
            # a retry of the same delivery: the newer attempt replaces the stuck one
            delivery_event(PostPublishing, account, post_id=post, delivery_id=same_delivery),
            delivery_event(
                PostPublishing,
                account,
                post_id=post,
                delivery_id=same_delivery,
                attempt=2,
                ago=timedelta(minutes=2),
            ),
        )
        await projected(hc_engine, new, state="publishing")
        await projected(hc_engine, same_delivery, attempt=2)
        await projected(hc_engine, old, state="publishing")
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        # the newer attempts finish; the old attempt stays superseded, never decided
        await service.publish(
            delivery_event(
                PostPublished, account, post_id=post, delivery_id=new, attempt=2, ago=timedelta(0)
            ),
            delivery_event(
                PostPublished,
                account,
                post_id=post,
                delivery_id=same_delivery,
                attempt=2,
                ago=timedelta(0),
            ),
        )
        await projected(hc_engine, new, state="published")
        await projected(hc_engine, same_delivery, state="published")
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        sweep = (await service.http.get("/internal/v1/stuck-sweeps/latest")).json()
        assert sweep["counts"].get("superseded") == 1
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"  # marked: not again
        sweep = (await service.http.get("/internal/v1/stuck-sweeps/latest")).json()
        assert sweep["counts"].get("superseded") is None
        events = await service.events("post.stuck", until=lambda _: True, timeout_s=3)
        assert [e for e in events if e["post_id"] == str(post)] == []


async def test_a_stuck_delivery_of_a_disconnected_account_fails(
    sim, make_settings, start, hc_engine
) -> None:
    async with start(make_settings()) as service:
        gone = await service.add("x", sim.mint("x", "gone", 1)[0], status="disconnected")
        paused = await service.add("x", sim.mint("x", "paused", 1)[0], active=False)
        post, d1, d2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await service.publish(
            delivery_event(PostPublishing, gone, post_id=post, delivery_id=d1),
            delivery_event(PostPublishing, paused, post_id=post, delivery_id=d2),
        )
        await projected(hc_engine, d1, state="publishing")
        await projected(hc_engine, d2, state="publishing")
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        events = await stuck_events(service, post, 2)
        assert sorted((e["decision"], e["reason"]) for e in events) == [
            ("failed", "account_disconnected"),
            ("failed", "account_inactive"),
        ]


async def test_finished_deliveries_are_pruned_after_the_retention(
    sim, make_settings, start, hc_engine
) -> None:
    async with start(make_settings(delivery_retention_s=3600)) as service:
        account = await service.add("x", sim.mint("x", "prune", 1)[0])
        post, done, recent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await service.publish(
            delivery_event(PostPublished, account, post_id=post, delivery_id=done, ago=timedelta(minutes=50)),
            delivery_event(PostPublished, account, post_id=post, delivery_id=recent, ago=timedelta(minutes=1)),
            # older than the retention: ignored, never projected
            delivery_event(PostPublishing, account, post_id=post, delivery_id=uuid.uuid4(), ago=timedelta(hours=3)),
        )  # fmt: skip
        await projected(hc_engine, done, state="published")
        await projected(hc_engine, recent, state="published")
        async with hc_engine.begin() as conn:  # time passes for the first one
            await conn.execute(
                text(
                    "UPDATE hc_deliveries SET last_event_at = last_event_at - interval '20 minutes' "
                    "WHERE delivery_id = :id"
                ),
                {"id": done},
            )
        assert (await service.run_job(STUCK_JOB)).status == "succeeded"
        async with hc_engine.connect() as conn:
            left = (await conn.execute(text("SELECT delivery_id FROM hc_deliveries"))).scalars()
            assert set(left) == {recent}
        sweep = (await service.http.get("/internal/v1/stuck-sweeps/latest")).json()
        assert sweep["counts"]["pruned"] == 1
