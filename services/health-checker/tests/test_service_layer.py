"""The use cases on the fakes: the delivery projection and the sweep, a whole check run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from health_checker.adapters.gate import PlatformGates
from health_checker.config import PlatformLimit
from health_checker.domain.checks import Checked
from health_checker.service_layer.check_account import AccountChecker
from health_checker.service_layer.check_job import CheckConnections
from health_checker.service_layer.check_worker import CheckWorker, _Progress
from health_checker.service_layer.stuck import RecoverStuckPosts, project_deliveries
from health_checker.testing import FakeHealthUnitOfWork, FakePlatformTurns
from mooring.accounts import Account, Credentials
from mooring.events import Envelope, PostPublished, PostPublishing, PostStuck
from mooring.platforms.descriptions import X
from mooring.platforms.outcomes import Classification

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def account(platform: str = "x", status: str = "connected", active: bool = True) -> Account:
    a = Account(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform=platform,
        platform_account_id=uuid.uuid4().hex,
        credentials=Credentials(access_token=SecretStr(f"tok-{uuid.uuid4().hex}")),
        active=active,
    )
    a.status = status  # type: ignore[assignment]
    return a


def publishing(
    a: Account, post, delivery, *, attempt=1, ago=timedelta(hours=2), kind=PostPublishing
):
    return Envelope(
        kind(
            post_id=post,
            delivery_id=delivery,
            account_id=a.id,
            workspace_id=a.workspace_id,
            platform=a.platform,
            attempt=attempt,
            at=NOW - ago,
        ),
        source="publisher",
    )


def sweeper(uow: FakeHealthUnitOfWork, decided: list[str] | None = None) -> RecoverStuckPosts:
    return RecoverStuckPosts(
        uow=uow,
        threshold=timedelta(hours=1),
        max_attempts=2,
        retention=timedelta(days=7),
        on_decided=(decided if decided is not None else []).append,
    )


async def project(uow: FakeHealthUnitOfWork, *envelopes) -> int:
    async with uow:
        changed = await project_deliveries(uow, list(envelopes), retention=timedelta(days=7))
        await uow.commit()
    return changed


async def test_stuck_attempts_are_decided_once_retry_then_failed() -> None:
    a = account()
    uow, decided = FakeHealthUnitOfWork([a], now=NOW), []
    post, delivery = uuid.uuid4(), uuid.uuid4()
    assert await project(uow, publishing(a, post, delivery), publishing(a, post, delivery)) == 1

    assert (await sweeper(uow, decided).sweep())["retry"] == 1
    assert (await sweeper(uow, decided).sweep())["retry"] == 0  # never twice for one attempt
    await project(uow, publishing(a, post, delivery, attempt=2))
    assert (await sweeper(uow, decided).sweep())["failed"] == 1
    stuck = uow.events(PostStuck)
    assert [(e.decision, e.attempt, e.reason) for e in stuck] == [  # type: ignore[attr-defined]
        ("retry", 1, "publishing_timed_out"),
        ("failed", 2, "attempts_exhausted"),
    ]
    assert decided == ["retry", "failed"]


async def test_a_post_waits_while_one_of_its_deliveries_is_in_flight() -> None:
    a, b = account(), account("tiktok")
    uow = FakeHealthUnitOfWork([a, b], now=NOW)
    post, stuck, running = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await project(
        uow,
        publishing(a, post, stuck),
        publishing(b, post, running, ago=timedelta(minutes=10)),
    )
    counts = await sweeper(uow).sweep()
    assert (counts["waiting"], counts["retry"]) == (1, 0)
    await project(uow, publishing(b, post, running, ago=timedelta(minutes=1), kind=PostPublished))
    assert (await sweeper(uow).sweep())["retry"] == 1


async def test_late_and_old_events_and_pruning() -> None:
    a = account()
    uow = FakeHealthUnitOfWork([a], now=NOW)
    post, delivery = uuid.uuid4(), uuid.uuid4()
    await project(uow, publishing(a, post, delivery, ago=timedelta(minutes=30), kind=PostPublished))
    assert await project(uow, publishing(a, post, delivery)) == 1  # late: never reopens it
    assert uow.deliveries.rows[delivery].state.value == "published"
    assert await project(uow, publishing(a, uuid.uuid4(), uuid.uuid4(), ago=timedelta(days=8))) == 0
    uow.advance(timedelta(days=8))
    assert (await sweeper(uow).sweep())["pruned"] == 1
    assert uow.deliveries.rows == {}


class Scripted:
    description = X

    def __init__(self) -> None:
        self.verified = 0

    async def verify(self, tokens) -> Classification:
        self.verified += 1
        return Classification.ok()


async def test_a_whole_run_checks_every_planned_account_once() -> None:
    accounts = [account() for _ in range(25)] + [account("tiktok") for _ in range(10)]
    accounts.append(account(status="disconnected"))  # not planned
    uow = FakeHealthUnitOfWork(accounts, now=NOW)
    platform = Scripted()
    seen: list[tuple[str, Checked]] = []
    worker = CheckWorker(
        uow=uow,
        checker=AccountChecker(uow=uow, adapters=lambda _: platform),  # type: ignore[arg-type,return-value]
        gates=lambda: PlatformGates({}),
        turns=FakePlatformTurns(),
        limits={"x": PlatformLimit(concurrency=1), "tiktok": PlatformLimit(concurrency=1)},
        parallel_platforms=12,
        turn_s=60.0,
        poll_s=0.1,
        calls_per_check=3,
        on_checked=lambda p, outcome: seen.append((p, outcome)),
    )
    job = CheckConnections(uow=uow, worker=worker, window_s=3600, batch_size=10)
    async with uow:
        run, created = await uow.checks.start_or_resume(
            window_s=3600, batch_size=10, statuses=("connected", "token_expired")
        )
        await uow.commit()
    assert created
    assert [(r.batch.platform, r.batch.planned) for r in uow.checks.batches.values()] == [
        ("tiktok", 10),
        ("x", 10),
        ("x", 10),
        ("x", 5),
    ]
    summary = await job.follow(run)
    assert summary.finished
    assert (summary.planned, dict(summary.counts)) == (35, {"ok": 35})
    assert platform.verified == 35
    assert len(seen) == 35
    assert uow.checks.runs[run.id].status.value == "completed"


def test_the_cursor_is_the_last_id_below_which_everything_is_done() -> None:
    ids = sorted(uuid.uuid4() for _ in range(4))
    progress = _Progress(ids)
    taken = [progress.take() for _ in range(3)]
    assert taken == [0, 1, 2]
    progress.done(1)
    assert progress.cursor is None  # the first is still in flight
    progress.done(0)
    assert progress.cursor == ids[1]
    progress.give_back(2)  # not checked after all (quota): taken again next
    assert progress.take() == 2
    progress.done(2)
    assert progress.take() == 3
    progress.done(3)
    assert progress.complete
    assert progress.cursor == ids[3]
    assert progress.take() is None
