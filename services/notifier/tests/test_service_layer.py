"""The use cases on the in-memory unit of work and a scripted mail sender: intake, the delivery
worker, the directory and the feed, in milliseconds, with the test moving the clock."""

import uuid
from datetime import timedelta

import pytest

from notifier.adapters.rendering import MailRenderer
from notifier.domain.deliveries import Attempt, RetryPolicy
from notifier.domain.errors import IncidentConflictError, NotificationNotFoundError
from notifier.domain.incidents import Rules, failure_key
from notifier.domain.links import Links
from notifier.domain.signals import AccountFailed, AccountRecovered, PostFailure
from notifier.service_layer.directory import Directory
from notifier.service_layer.inbox import Inbox
from notifier.service_layer.intake import take_in
from notifier.service_layer.mailer import DeliveryWorker, HeldMailSweeper
from notifier.testing import FakeMailSender, FakeNotifierUnitOfWork

RULES = Rules(digest_settle_s=60, post_settle_s=30, post_cooldown=timedelta(hours=1))
LINKS = Links(
    "https://app.example/{workspace_id}/accounts/{account_id}/reconnect",
    "https://app.example/{workspace_id}/accounts",
    "https://app.example/{workspace_id}/settings",
)


class World:
    """A workspace, its fake store, a mail sender and a worker over them."""

    def __init__(self, *, owner: bool = True, script: list[Attempt] | None = None) -> None:
        self.uow = FakeNotifierUnitOfWork()
        self.store = self.uow.store
        self.ws = uuid.uuid4()
        self.mail = FakeMailSender(script=list(script or []))
        self.worker = DeliveryWorker(
            uow=lambda: self.uow,
            sender=self.mail,
            renderer=MailRenderer(LINKS, "Mooring <n@mooring.test>"),
            policy=RetryPolicy(
                initial=timedelta(seconds=10),
                maximum=timedelta(minutes=5),
                give_up_after=timedelta(days=1),
            ),
        )
        self.directory = Directory(lambda: self.uow)
        self.inbox = Inbox(lambda: self.uow)
        self.address = "owner@example.com"
        if owner:
            self.store.owners[self.ws] = _owner(self.ws, self.address, self.store.now)

    def failure(self, account=None, run=None, minutes=0.0) -> AccountFailed:
        return AccountFailed(
            account or uuid.uuid4(),
            self.ws,
            "bluesky",
            self.store.now + timedelta(minutes=minutes),
            "did:plc:abc",
            "revoked",
            "disconnected",
            run,
        )

    async def take(self, *signals):
        async with self.uow as uow:
            result = await take_in(uow, list(signals), RULES)
            await uow.commit()
        return result

    def deliveries(self):
        return list(self.store.deliveries.values())


def _owner(ws, address, when):
    from notifier.adapters.port import Owner

    return Owner(ws, uuid.uuid4(), address, when)


async def test_a_failure_is_mailed_once_with_a_reconnect_link():
    w = World()
    signal = w.failure()
    await w.take(signal)
    await w.take(w.failure(signal.account_id, minutes=5))  # the same incident again

    assert await w.worker.run_once() == 1
    assert await w.worker.run_once() == 0
    [mail] = w.mail.sent
    assert mail["To"] == w.address
    assert (
        f"/{w.ws}/accounts/{signal.account_id}/reconnect" in mail.get_body(("plain",)).get_content()
    )
    [delivery] = w.deliveries()
    assert (delivery.status, delivery.recipient, delivery.attempts) == ("sent", w.address, 1)
    assert len(w.store.notifications) == 1


async def test_the_digest_waits_for_the_settle_window_then_lists_the_runs_failures():
    w = World()
    run = uuid.uuid4()
    await w.take(*(w.failure(run=run) for _ in range(3)))
    await w.take(w.failure(run=run))  # a later batch of the same run joins the digest
    await w.take(w.failure(run=uuid.uuid4()))  # another run: its own digest

    assert await w.worker.run_once() == 0  # still settling
    w.store.advance(61)
    assert await w.worker.run_once() == 2
    four = next(m for m in w.mail.sent if m["Subject"] == "4 accounts need to be reconnected")
    assert four.get_body(("plain",)).get_content().count("Reconnect: https://") == 4
    assert len(w.store.notifications) == 5


async def test_a_transient_failure_is_retried_after_its_back_off_and_sent_once():
    w = World(script=[Attempt(accepted=False, stage="connect", error="refused")])
    await w.take(w.failure())
    await w.worker.run_once()
    [delivery] = w.deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "refused")
    assert await w.worker.run_once() == 0  # backing off
    w.store.advance(12)
    await w.worker.run_once()
    [delivery] = w.deliveries()
    assert delivery.status == "sent"
    assert delivery.attempts == 2
    assert len(w.mail.sent) == 1


async def test_a_5xx_is_failed_for_good_and_an_outage_stops_the_round():
    w = World(
        script=[
            Attempt(accepted=False, stage="message", code=550, error="no such user"),
            Attempt(accepted=False, stage="connect", error="dropped"),
        ]
    )
    await w.take(w.failure(), w.failure(), w.failure())
    await w.worker.run_once()
    statuses = sorted(d.status for d in w.deliveries())
    assert statuses == ["failed", "pending", "pending"]
    assert len(w.mail.attempts) == 2  # the third was not tried on a connection that broke
    w.store.advance(3600)
    await w.worker.run_once()
    assert sorted(d.status for d in w.deliveries()) == ["failed", "sent", "sent"]
    failed = next(d for d in w.deliveries() if d.status == "failed")
    assert (failed.attempts, failed.last_code) == (1, 550)


async def test_held_mail_goes_once_the_owner_is_known():
    w = World(owner=False)
    await w.take(w.failure(), w.failure(run=uuid.uuid4()))
    assert {d.status for d in w.deliveries()} == {"held"}
    w.store.advance(120)
    assert await w.worker.run_once() == 0

    change = await w.directory.change_owner(w.ws, uuid.uuid4(), "late@example.com")
    assert change.applied
    assert change.released == 2
    await w.worker.run_once()
    assert [m["To"] for m in w.mail.sent] == ["late@example.com"] * 2
    older = await w.directory.change_owner(
        w.ws, uuid.uuid4(), "old@example.com", w.store.now - timedelta(days=1)
    )
    assert not older.applied
    assert older.owner is not None
    assert older.owner.email == "late@example.com"


async def test_the_sweeper_releases_what_was_held_while_the_owner_arrived():
    w = World(owner=False)
    await w.take(w.failure())
    w.store.owners[w.ws] = _owner(w.ws, w.address, w.store.now)  # set by a concurrent batch
    woken = []
    sweeper = HeldMailSweeper(uow=lambda: w.uow, interval_s=1, on_released=lambda: woken.append(1))
    assert await sweeper.sweep_once() == 1
    assert woken == [1]
    await w.worker.run_once()
    assert len(w.mail.sent) == 1


async def test_a_failure_that_recovers_before_its_mail_goes_is_not_mailed_at_all():
    w = World()
    single, in_digest = w.failure(), w.failure(run=uuid.uuid4())
    await w.take(single, in_digest)
    for failure in (single, in_digest):
        await w.take(
            AccountRecovered(
                failure.account_id, w.ws, "bluesky", w.store.now + timedelta(minutes=1)
            )
        )
    w.store.advance(120)
    await w.worker.run_once()
    assert w.mail.sent == []
    assert sorted(d.status for d in w.deliveries()) == ["superseded", "superseded"]
    kinds = sorted(n.kind for n in w.store.notifications.values())
    assert kinds == ["account_disconnected"] * 2 + ["account_recovered"] * 2


async def test_a_copy_of_a_post_failure_in_the_same_batch_counts_once():
    w = World()
    account, delivery = uuid.uuid4(), uuid.uuid4()
    post = PostFailure(account, w.ws, "x", w.store.now, uuid.uuid4(), delivery, "boom")
    result = await w.take(post, post)
    assert result.outcomes["duplicate"] == 1
    [note] = w.store.notifications.values()
    assert note.data["post_count"] == 1


async def test_keys_that_disagree_with_the_state_write_nothing():
    w = World()
    signal = w.failure()
    w.store.keys.add(failure_key(signal.account_id, 0))  # a key without its state
    with pytest.raises(IncidentConflictError):
        await w.take(signal)
    assert w.store.notifications == {}
    assert w.deliveries() == []


async def test_the_feed_keeps_read_state_per_user():
    w = World()
    await w.take(*(w.failure(minutes=i) for i in range(5)))
    page = await w.inbox.page(w.ws, "owner-1", limit=2)
    assert (len(page.items), page.unread_count) == (2, 5)
    assert page.next is not None
    rest = await w.inbox.page(w.ws, "owner-1", limit=10, after=page.next)
    assert len(rest.items) == 3
    assert rest.next is None

    read = await w.inbox.mark_read(w.ws, "owner-1", page.items[0].id)
    assert read.read
    assert (await w.inbox.page(w.ws, "owner-1", limit=10)).unread_count == 4
    assert (await w.inbox.page(w.ws, "admin-1", limit=10)).unread_count == 5
    assert await w.inbox.mark_all_read(w.ws, "admin-1") == 0
    with pytest.raises(NotificationNotFoundError):
        await w.inbox.mark_read(uuid.uuid4(), "owner-1", page.items[0].id)


async def test_a_mail_that_cannot_be_rendered_is_failed_not_retried_every_lease():
    w = World()
    await w.take(w.failure(), w.failure())

    def broken(*args, **kwargs):
        raise KeyError("a template bug")

    render = w.worker.renderer.render
    w.worker.renderer.render = broken  # type: ignore[method-assign]
    first_round = await w.worker.run_once()
    w.worker.renderer.render = render  # type: ignore[method-assign]
    assert first_round == 2
    statuses = [(d.status, d.last_error) for d in w.deliveries()]
    assert statuses == [("failed", "not rendered: KeyError")] * 2
    assert await w.worker.run_once() == 0
