"""For tests: the notifier's repositories and unit of work in memory, a scriptable mail sender,
event builders and a polling helper.

`FakeNotifierUnitOfWork` adds in-memory versions of the three repositories to the kernel's
`FakeUnitOfWork`: their writes are undone on rollback, keys are unique, the clock (`store.now`)
is the test's. They keep the SQL versions' rules (newest owner wins, open digest per workspace
and run, claims skip nothing because one task runs at a time) so the service layer can be tested
in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TypeVar

from mooring.events import (
    AccountConnected,
    AccountDisconnected,
    AccountUpdated,
    Envelope,
    PostFailed,
    PostStuck,
    TokenExpiring,
    WorkspaceOwnerChanged,
    utcnow,
)
from mooring.uow import FakeUnitOfWork
from notifier.adapters.mail import MailConnection, MailSender, OutgoingMail
from notifier.adapters.port import (
    AbstractDeliveryRepository,
    AbstractDirectoryRepository,
    AbstractNotificationRepository,
    AccountRef,
    ClaimedDelivery,
    DeliveryView,
    DigestWanted,
    FeedCursor,
    Finished,
    NewDelivery,
    NotificationRow,
    Owner,
)
from notifier.domain.deliveries import Attempt
from notifier.domain.incidents import AccountState, Audience, DeliveryStatus, NotificationDraft
from notifier.domain.kinds import KINDS, Kind, Template
from notifier.service_layer.unit_of_work import AbstractNotifierUnitOfWork

__all__ = [
    "FakeMailSender",
    "FakeNotifierUnitOfWork",
    "FakeStore",
    "account_connected",
    "account_disconnected",
    "account_updated",
    "eventually",
    "owner_changed",
    "post_failed",
    "post_stuck",
    "token_expiring",
]

T = TypeVar("T")


@dataclass
class _Delivery:
    id: uuid.UUID
    workspace_id: uuid.UUID
    template: Template
    group_key: str | None
    status: DeliveryStatus
    not_before: datetime
    created_at: datetime
    attempts: int = 0
    last_code: int | None = None
    last_error: str | None = None
    recipient: str | None = None
    sent_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class FakeStore:
    """Every table in memory; `now` is the database clock, moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    keys: set[str] = field(default_factory=set)
    accounts: dict[uuid.UUID, AccountState] = field(default_factory=dict)
    notifications: dict[uuid.UUID, NotificationRow] = field(default_factory=dict)
    carried_by: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, _Delivery] = field(default_factory=dict)
    owners: dict[uuid.UUID, Owner] = field(default_factory=dict)
    prefs: dict[tuple[uuid.UUID, Kind], bool] = field(default_factory=dict)
    marks: dict[tuple[uuid.UUID, str], datetime] = field(default_factory=dict)
    reads: set[tuple[uuid.UUID, str, uuid.UUID]] = field(default_factory=set)
    _tick: int = 0

    def clock(self) -> datetime:
        """`now`, a microsecond later at each call: rows written in order sort in order."""
        self._tick += 1
        return self.now + timedelta(microseconds=self._tick)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def snapshot(self) -> Any:
        return copy.deepcopy({k: v for k, v in vars(self).items() if k not in {"now", "_tick"}})

    def restore(self, state: Any) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    def delivery_of(self, notification_id: uuid.UUID) -> _Delivery | None:
        carrier = self.carried_by.get(notification_id)
        return self.deliveries.get(carrier) if carrier is not None else None


class FakeNotificationRepository(AbstractNotificationRepository):
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    async def claim_keys(self, keys: Sequence[str]) -> set[str]:
        fresh = {k for k in keys if k not in self.s.keys}
        self.s.keys |= fresh
        return fresh

    async def lock_accounts(self, refs: Sequence[AccountRef]) -> dict[uuid.UUID, AccountState]:
        out = {}
        for ref in refs:
            state = self.s.accounts.setdefault(
                ref.account_id, AccountState(ref.account_id, ref.workspace_id, ref.platform)
            )
            if state.failure is not None:
                carrier = self.s.delivery_of(state.failure.notification_id)
                state = replace(
                    state,
                    failure=replace(
                        state.failure,
                        delivery_id=carrier.id if carrier else None,
                        delivery_status=carrier.status if carrier else None,
                    ),
                )
            out[ref.account_id] = copy.deepcopy(state)
        return out

    async def save_accounts(self, states: Iterable[AccountState]) -> None:
        for state in states:
            self.s.accounts[state.account_id] = copy.deepcopy(state)

    async def add(
        self, drafts: Sequence[NotificationDraft], delivery_ids: Mapping[uuid.UUID, uuid.UUID]
    ) -> None:
        for d in drafts:
            if d.id in self.s.notifications:
                raise ValueError(f"duplicate notification id {d.id}")
            self.s.notifications[d.id] = NotificationRow(
                id=d.id,
                workspace_id=d.workspace_id,
                account_id=d.account_id,
                kind=d.kind,
                title=d.title,
                body=d.body,
                data=copy.deepcopy(d.data),
                occurred_at=d.occurred_at,
                created_at=self.s.clock(),
            )
            self.s.carried_by[d.id] = delivery_ids.get(d.id)

    async def locked(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, NotificationRow]:
        return {i: self.s.notifications[i] for i in ids if i in self.s.notifications}

    async def set_content(
        self, notification_id: uuid.UUID, data: dict[str, Any], title: str, body: str
    ) -> None:
        row = self.s.notifications[notification_id]
        self.s.notifications[notification_id] = replace(row, data=data, title=title, body=body)

    async def resolve(self, resolved: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        for notification_id, at in resolved:
            row = self.s.notifications.get(notification_id)
            if row is not None and row.resolved_at is None:
                self.s.notifications[notification_id] = replace(row, resolved_at=at)

    def _read(self, row: NotificationRow, user_id: str) -> bool:
        mark = self.s.marks.get((row.workspace_id, user_id))
        return (mark is not None and row.created_at <= mark) or (
            row.workspace_id,
            user_id,
            row.id,
        ) in self.s.reads

    async def page(
        self,
        workspace_id: uuid.UUID,
        user_id: str,
        *,
        limit: int,
        after: FeedCursor | None,
        unread_only: bool,
    ) -> list[NotificationRow]:
        rows = [r for r in self.s.notifications.values() if r.workspace_id == workspace_id]
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        if after is not None:
            rows = [r for r in rows if (r.created_at, r.id) < (after.created_at, after.id)]
        marked = [replace(r, read=self._read(r, user_id)) for r in rows]
        if unread_only:
            marked = [r for r in marked if not r.read]
        return marked[:limit]

    async def unread_count(self, workspace_id: uuid.UUID, user_id: str) -> int:
        return sum(
            1
            for r in self.s.notifications.values()
            if r.workspace_id == workspace_id and not self._read(r, user_id)
        )

    async def get(
        self, workspace_id: uuid.UUID, notification_id: uuid.UUID, user_id: str | None = None
    ) -> NotificationRow | None:
        row = self.s.notifications.get(notification_id)
        if row is None or row.workspace_id != workspace_id:
            return None
        return replace(row, read=user_id is not None and self._read(row, user_id))

    async def mark_read(
        self, workspace_id: uuid.UUID, user_id: str, notification_id: uuid.UUID
    ) -> None:
        self.s.reads.add((workspace_id, user_id, notification_id))

    async def mark_all_read(self, workspace_id: uuid.UUID, user_id: str) -> None:
        self.s.marks[workspace_id, user_id] = self.s.clock()


class FakeDeliveryRepository(AbstractDeliveryRepository):
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    async def open_digests(
        self, wanted: Sequence[DigestWanted]
    ) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        out = {}
        for w in wanted:
            open_one = next(
                (
                    d
                    for d in self.s.deliveries.values()
                    if (d.workspace_id, d.group_key) == (w.workspace_id, w.group_key)
                    and d.status in {"held", "pending"}
                ),
                None,
            )
            if open_one is None:
                now = self.s.clock()
                open_one = _Delivery(
                    id=uuid.uuid4(),
                    workspace_id=w.workspace_id,
                    template="connections_digest",
                    group_key=w.group_key,
                    status=w.status,
                    not_before=now + timedelta(seconds=w.delay_s),
                    created_at=now,
                )
                self.s.deliveries[open_one.id] = open_one
            elif w.status == "pending":
                open_one.status = "pending"
            out[w.workspace_id, w.group_key] = open_one.id
        return out

    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        for d in deliveries:
            now = self.s.clock()
            self.s.deliveries[d.id] = _Delivery(
                id=d.id,
                workspace_id=d.workspace_id,
                template=d.template,
                group_key=None,
                status=d.status,
                not_before=now + timedelta(seconds=d.delay_s),
                created_at=now,
            )

    async def supersede(self, ids: Sequence[uuid.UUID]) -> None:
        for i in ids:
            d = self.s.deliveries.get(i)
            if d is not None and d.status in {"held", "pending"}:
                d.status = "superseded"

    async def release_held(self, workspace_ids: Sequence[uuid.UUID] | None = None) -> int:
        released = 0
        for d in self.s.deliveries.values():
            if (
                d.status == "held"
                and d.workspace_id in self.s.owners
                and (workspace_ids is None or d.workspace_id in workspace_ids)
            ):
                d.status = "pending"
                d.not_before = max(d.not_before, self.s.now)
                released += 1
        return released

    async def claim(self, limit: int, lease_s: float) -> list[ClaimedDelivery]:
        now = self.s.clock()
        due = sorted(
            (
                d
                for d in self.s.deliveries.values()
                if d.status in {"pending", "sending"} and d.not_before <= now
            ),
            key=lambda d: d.not_before,
        )[:limit]
        out = []
        for d in due:
            d.status = "sending"
            d.attempts += 1
            d.not_before = now + timedelta(seconds=lease_s)
            owner = self.s.owners.get(d.workspace_id)
            rows = sorted(
                (n for n in self.s.notifications.values() if self.s.carried_by.get(n.id) == d.id),
                key=lambda n: (n.created_at, n.id),
            )
            out.append(
                ClaimedDelivery(
                    id=d.id,
                    workspace_id=d.workspace_id,
                    template=d.template,
                    attempts=d.attempts,
                    created_at=d.created_at,
                    claimed_at=now,
                    recipient=owner.email if owner else None,
                    notifications=rows,
                )
            )
        return out

    async def finish(self, finished: Sequence[Finished]) -> None:
        for f in finished:
            d = self.s.deliveries[f.delivery_id]
            if d.status != "sending":
                continue
            d.status = f.status
            if f.retry_in_s is not None:
                d.not_before = self.s.now + timedelta(seconds=f.retry_in_s)
            d.last_code, d.last_error = f.code, f.error
            d.recipient = f.recipient or d.recipient
            if f.status == "sent":
                d.sent_at = self.s.now

    def _view(self, d: _Delivery) -> DeliveryView:
        return DeliveryView(
            id=d.id,
            workspace_id=d.workspace_id,
            template=d.template,
            group_key=d.group_key,
            status=d.status,
            attempts=d.attempts,
            not_before=d.not_before,
            last_code=d.last_code,
            last_error=d.last_error,
            recipient=d.recipient,
            created_at=d.created_at,
            updated_at=d.updated_at or d.created_at,
            sent_at=d.sent_at,
            notification_ids=[n for n, c in self.s.carried_by.items() if c == d.id],
        )

    async def view(
        self,
        *,
        status: DeliveryStatus | None = None,
        workspace_id: uuid.UUID | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryView]:
        found = [
            d
            for d in self.s.deliveries.values()
            if (status is None or d.status == status)
            and (workspace_id is None or d.workspace_id == workspace_id)
        ]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return [self._view(d) for d in found[offset : offset + limit]]

    async def get(self, delivery_id: uuid.UUID) -> DeliveryView | None:
        d = self.s.deliveries.get(delivery_id)
        return self._view(d) if d is not None else None

    async def retry_failed(self, delivery_id: uuid.UUID) -> bool:
        d = self.s.deliveries.get(delivery_id)
        if d is None or d.status != "failed":
            return False
        d.status, d.not_before = "pending", self.s.now
        return True


class FakeDirectoryRepository(AbstractDirectoryRepository):
    def __init__(self, store: FakeStore) -> None:
        self.s = store

    async def set_owner(
        self,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        email: str,
        changed_at: datetime | None,
    ) -> bool:
        when = changed_at or self.s.now
        known = self.s.owners.get(workspace_id)
        if known is not None and known.changed_at >= when:
            return False
        self.s.owners[workspace_id] = Owner(workspace_id, user_id, email, when)
        return True

    async def owner(self, workspace_id: uuid.UUID) -> Owner | None:
        return self.s.owners.get(workspace_id)

    async def audiences(self, workspace_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Audience]:
        return {
            ws: Audience(
                owner_known=ws in self.s.owners,
                email_off=frozenset(k for k in KINDS if not self.s.prefs.get((ws, k), True)),
            )
            for ws in workspace_ids
        }

    async def preferences(self, workspace_id: uuid.UUID) -> dict[Kind, bool]:
        return {k: self.s.prefs.get((workspace_id, k), True) for k in KINDS}

    async def set_preferences(self, workspace_id: uuid.UUID, changes: Mapping[Kind, bool]) -> None:
        for kind, on in changes.items():
            self.s.prefs[workspace_id, kind] = on


class FakeNotifierUnitOfWork(FakeUnitOfWork, AbstractNotifierUnitOfWork):
    """One object for a whole test: each `async with` is a new transaction on the same store."""

    def __init__(self, store: FakeStore | None = None) -> None:
        super().__init__(source="notifier-test")
        self.store = store or FakeStore()
        self.notifications = FakeNotificationRepository(self.store)
        self.deliveries = FakeDeliveryRepository(self.store)
        self.directory = FakeDirectoryRepository(self.store)
        self._saved: Any = None

    async def _begin(self) -> None:
        await super()._begin()
        self._saved = self.store.snapshot()

    async def _rollback(self) -> None:
        await super()._rollback()
        if self._saved is not None:
            self.store.restore(self._saved)
            self._saved = None

    async def _commit(self) -> None:
        await super()._commit()
        self._saved = self.store.snapshot()


class _FakeConnection(MailConnection):
    def __init__(self, sender: FakeMailSender) -> None:
        self._sender = sender
        self._broken = False

    @property
    def broken(self) -> bool:
        return self._broken

    async def send(self, mail: OutgoingMail) -> Attempt:
        attempt = self._sender.script.pop(0) if self._sender.script else Attempt(accepted=True)
        self._sender.attempts.append(attempt)
        if attempt.accepted:
            parsed = message_from_bytes(mail.data, policy=policy.default)
            assert isinstance(parsed, EmailMessage)  # noqa: S101 - policy.default makes one
            self._sender.sent.append(parsed)
        elif attempt.stage != "message":
            self._broken = True
        return attempt


@dataclass
class FakeMailSender(MailSender):
    """Accepts everything unless `script` says otherwise (one `Attempt` per send, in order);
    what it accepted is kept parsed in `sent`."""

    script: list[Attempt] = field(default_factory=list)
    sent: list[EmailMessage] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[MailConnection]:
        yield _FakeConnection(self)


# -- events ------------------------------------------------------------------------------------


def account_disconnected(
    workspace_id: uuid.UUID,
    account_id: uuid.UUID | None = None,
    *,
    platform: str = "linkedin",
    platform_account_id: str = "urn:li:person:abc",
    reason: str = "token_expired",
    status: str | None = "token_expired",
    check_run_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> Envelope[AccountDisconnected]:
    return Envelope(
        AccountDisconnected(
            account_id=account_id or uuid.uuid4(),
            workspace_id=workspace_id,
            platform=platform,
            platform_account_id=platform_account_id,
            reason=reason,
            status=status,
            check_run_id=check_run_id,
            disconnected_at=at or utcnow(),
        ),
        source="test",
    )


def account_updated(
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    platform: str = "linkedin",
    status: str | None = "connected",
    changed: list[str] | None = None,
    check_run_id: uuid.UUID | None = None,
    at: datetime | None = None,
) -> Envelope[AccountUpdated]:
    return Envelope(
        AccountUpdated(
            account_id=account_id,
            workspace_id=workspace_id,
            platform=platform,
            active=True,
            status=status,
            changed=changed if changed is not None else ["status"],
            check_run_id=check_run_id,
            updated_at=at or utcnow(),
        ),
        source="test",
    )


def account_connected(
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    platform: str = "linkedin",
    reconnected: bool = False,
    display_name: str | None = None,
    username: str | None = None,
    at: datetime | None = None,
) -> Envelope[AccountConnected]:
    return Envelope(
        AccountConnected(
            account_id=account_id,
            workspace_id=workspace_id,
            platform=platform,
            platform_account_id="urn:li:person:abc",
            display_name=display_name,
            username=username,
            reconnected=reconnected,
            connected_at=at or utcnow(),
        ),
        source="test",
    )


def token_expiring(
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    expires_at: datetime,
    reminder_days: int | None = 14,
    refreshable: bool = False,
    platform: str = "linkedin",
) -> Envelope[TokenExpiring]:
    return Envelope(
        TokenExpiring(
            account_id=account_id,
            workspace_id=workspace_id,
            platform=platform,
            expires_at=expires_at,
            refreshable=refreshable,
            reminder_days=reminder_days,
        ),
        source="test",
    )


def post_failed(
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    delivery_id: uuid.UUID | None = None,
    error: str | None = "the platform refused the media",
    platform: str = "x",
    at: datetime | None = None,
) -> Envelope[PostFailed]:
    return Envelope(
        PostFailed(
            post_id=uuid.uuid4(),
            delivery_id=delivery_id or uuid.uuid4(),
            account_id=account_id,
            workspace_id=workspace_id,
            platform=platform,
            error=error,
            at=at or utcnow(),
        ),
        source="test",
    )


def post_stuck(
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    delivery_id: uuid.UUID | None = None,
    decision: str = "failed",
    reason: str = "publishing for more than 60 minutes",
    platform: str = "x",
) -> Envelope[PostStuck]:
    return Envelope(
        PostStuck(
            post_id=uuid.uuid4(),
            delivery_id=delivery_id or uuid.uuid4(),
            account_id=account_id,
            workspace_id=workspace_id,
            platform=platform,
            decision=decision,
            attempt=1,
            publishing_since=utcnow() - timedelta(hours=2),
            reason=reason,
        ),
        source="test",
    )


def owner_changed(
    workspace_id: uuid.UUID, email: str, *, at: datetime | None = None
) -> Envelope[WorkspaceOwnerChanged]:
    return Envelope(
        WorkspaceOwnerChanged(
            workspace_id=workspace_id,
            owner_user_id=uuid.uuid4(),
            owner_email=email,
            changed_at=at or utcnow(),
        ),
        source="test",
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.1,
) -> T:
    """Poll `probe` until `until(result)`; the last result, or AssertionError with it."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s; last: {result!r}")
        await asyncio.sleep(interval_s)
