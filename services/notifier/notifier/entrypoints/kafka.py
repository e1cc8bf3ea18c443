"""The notifier's subscribers: events become signals, the intake does the rest.

Every topic is consumed in batches (`runtime.subscribe_batch`): one transaction per fetched
batch, the inbox marks included, so a burst of thousands of disconnects costs a few statements
per batch rather than a transaction per event. The handlers only translate: which events are
news and what they mean is `domain`, what is written is `service_layer.intake`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mooring.events import (
    AccountConnected,
    AccountDisconnected,
    AccountUpdated,
    Envelope,
    Event,
    PostFailed,
    PostStuck,
    TokenExpiring,
    WorkspaceOwnerChanged,
)
from notifier.domain.incidents import Plan, Rules
from notifier.domain.signals import (
    AccountFailed,
    AccountGone,
    AccountRecovered,
    AccountSeen,
    PostFailure,
    ReconnectReminder,
    Signal,
    clean_text,
    is_failure_reason,
    is_recovery_update,
)
from notifier.service_layer.directory import change_owner
from notifier.service_layer.intake import take_in
from notifier.service_layer.unit_of_work import AbstractNotifierUnitOfWork

__all__ = ["NOTIFIABLE", "KafkaHandlers", "signals_of"]

logger = logging.getLogger(__name__)

_LABEL = 120


def _disconnected(e: Envelope[AccountDisconnected]) -> Iterable[Signal]:
    p = e.payload
    if not is_failure_reason(p.reason):
        yield AccountGone(p.account_id, p.workspace_id, p.platform, p.disconnected_at)
        return
    yield AccountFailed(
        p.account_id,
        p.workspace_id,
        p.platform,
        p.disconnected_at,
        platform_account_id=clean_text(p.platform_account_id, _LABEL) or "",
        reason=p.reason,
        status=p.status,
        check_run_id=p.check_run_id,
    )


def _updated(e: Envelope[AccountUpdated]) -> Iterable[Signal]:
    p = e.payload
    if is_recovery_update(p.changed, p.status):
        yield AccountRecovered(p.account_id, p.workspace_id, p.platform, p.updated_at, via="check")


def _connected(e: Envelope[AccountConnected]) -> Iterable[Signal]:
    p = e.payload
    label = p.display_name or (f"@{p.username}" if p.username else None)
    yield AccountSeen(
        p.account_id, p.workspace_id, p.platform, p.connected_at, clean_text(label, _LABEL)
    )
    if p.reconnected:
        yield AccountRecovered(
            p.account_id, p.workspace_id, p.platform, p.connected_at, via="reconnected"
        )


def _expiring(e: Envelope[TokenExpiring]) -> Iterable[Signal]:
    p = e.payload
    if not p.refreshable:
        yield ReconnectReminder(
            p.account_id,
            p.workspace_id,
            p.platform,
            e.time,
            expires_at=p.expires_at,
            reminder_days=p.reminder_days,
        )


def _stuck(e: Envelope[PostStuck]) -> Iterable[Signal]:
    p = e.payload
    if p.decision == "failed":
        yield PostFailure(
            p.account_id,
            p.workspace_id,
            p.platform,
            e.time,
            post_id=p.post_id,
            delivery_id=p.delivery_id,
            error=clean_text(p.reason),
        )


def _failed(e: Envelope[PostFailed]) -> Iterable[Signal]:
    p = e.payload
    yield PostFailure(
        p.account_id,
        p.workspace_id,
        p.platform,
        p.at,
        post_id=p.post_id,
        delivery_id=p.delivery_id,
        error=clean_text(p.error),
    )


_TRANSLATIONS: dict[type[Event], Callable[[Any], Iterable[Signal]]] = {
    AccountDisconnected: _disconnected,
    AccountUpdated: _updated,
    AccountConnected: _connected,
    TokenExpiring: _expiring,
    PostStuck: _stuck,
    PostFailed: _failed,
}
NOTIFIABLE: tuple[type[Event], ...] = tuple(_TRANSLATIONS)


def signals_of(envelopes: Sequence[Envelope[Any]]) -> list[Signal]:
    """The signals a batch of events carries, in order."""
    out: list[Signal] = []
    for envelope in envelopes:
        out.extend(_TRANSLATIONS[type(envelope.payload)](envelope))
    return out


def _noop(result: Plan) -> None:
    del result


@dataclass(frozen=True)
class KafkaHandlers:
    rules: Rules
    on_plan: Callable[[Plan], None] = _noop

    async def on_events(
        self,
        envelopes: Sequence[Envelope[Any]],
        uow: AbstractNotifierUnitOfWork,
    ) -> None:
        """Any of the notifiable topics: translate and take in (the runtime commits)."""
        result = await take_in(uow, signals_of(envelopes), self.rules)
        self.on_plan(result)

    async def on_owner_changed(
        self, envelopes: Sequence[Envelope[WorkspaceOwnerChanged]], uow: AbstractNotifierUnitOfWork
    ) -> None:
        for envelope in envelopes:
            p = envelope.payload
            change = await change_owner(
                uow, p.workspace_id, p.owner_user_id, p.owner_email, p.changed_at
            )
            if not change.applied:
                logger.info(
                    "older owner change ignored", extra={"workspace_id": str(p.workspace_id)}
                )
