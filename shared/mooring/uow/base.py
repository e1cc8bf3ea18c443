"""The unit-of-work port (the cosmicpython shape, async)."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Self

from mooring.accounts.model import Account
from mooring.accounts.port import AbstractAccountRepository
from mooring.events.base import Envelope, Event

__all__ = ["UnitOfWork"]


class UnitOfWork(abc.ABC):
    """One transaction. Use as `async with uow: ...; await uow.commit()`.

    Leaving the block without `commit` rolls back: state and events alike.
    """

    @property
    @abc.abstractmethod
    def accounts(self) -> AbstractAccountRepository:
        """The shared account aggregate's repository, on this unit of work's transaction."""

    def _seen_accounts(self) -> Iterable[Account]:
        return self.accounts.seen

    def __init__(self, source: str) -> None:
        self.source = source
        self._emitted: list[Envelope[Event]] = []

    async def __aenter__(self) -> Self:
        self._emitted = []
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()
        await self._close()

    def emit(self, *events: Event | Envelope[Event]) -> None:
        """Publish `events` when this unit of work commits (an envelope keeps its own id)."""
        for item in events:
            envelope = item if isinstance(item, Envelope) else Envelope(item, source=self.source)
            self._emitted.append(envelope)

    def collect_new_events(self) -> list[Envelope[Event]]:
        """Everything emitted and raised by the aggregates in play, in the order it happened
        per aggregate; taking them empties the queues."""
        collected, self._emitted = self._emitted, []
        for account in self._seen_accounts():
            collected.extend(Envelope(event, source=self.source) for event in account.events)
            account.events.clear()
        return collected

    async def commit(self) -> None:
        """Write the collected events to the outbox and commit, in one transaction."""
        await self._publish(self.collect_new_events())
        await self._commit()

    async def rollback(self) -> None:
        self._emitted = []
        for account in self._seen_accounts():
            account.events.clear()
        await self._rollback()

    @abc.abstractmethod
    async def first_delivery(
        self, consumer: str, event_id: uuid.UUID, source: str | None = None
    ) -> bool:
        """Mark `event_id` (from `source`) handled by `consumer` in this transaction; False if
        it already was."""

    @abc.abstractmethod
    async def first_deliveries(
        self,
        consumer: str,
        event_ids: Sequence[uuid.UUID],
        sources: Sequence[str | None] | None = None,
    ) -> set[uuid.UUID]:
        """The batch form: which of `event_ids` are new to `consumer` (all now marked)."""

    @abc.abstractmethod
    async def _begin(self) -> None: ...

    @abc.abstractmethod
    async def _publish(self, envelopes: Sequence[Envelope[Event]]) -> None: ...

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _rollback(self) -> None: ...

    async def _close(self) -> None:
        return None
