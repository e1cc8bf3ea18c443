"""The unit of work: one transaction, the repositories on it, and the events it publishes.

A service layer function takes a unit of work, changes aggregates through their methods, adds
any other event with `emit`, and calls `commit`: the state change and every event it raised are
written in the same transaction (the events into the outbox), or nothing is. The runtime opens
one per consumed record and marks the record in the inbox in it, so a redelivered event is
skipped before the handler runs. `FakeUnitOfWork` does the same in memory for unit tests.
"""

from __future__ import annotations

from mooring.uow.base import UnitOfWork
from mooring.uow.fake import FakeAccountRepository, FakeUnitOfWork
from mooring.uow.sql import SqlUnitOfWork, UnitOfWorkDeps

__all__ = [
    "FakeAccountRepository",
    "FakeUnitOfWork",
    "SqlUnitOfWork",
    "UnitOfWork",
    "UnitOfWorkDeps",
]
