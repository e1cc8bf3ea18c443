"""The per-workspace limit on connect starts, shared by the OAuth and the Bluesky flows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from connector.domain.ratelimit import StartWindow
from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork

__all__ = ["count_start"]


async def count_start(
    uow_factory: Callable[[], AbstractConnectorUnitOfWork],
    window: StartWindow,
    workspace_id: uuid.UUID,
) -> None:
    """Count this start; `RateLimitedError` (with the seconds to wait) past the limit.

    Refused starts count too: a caller that keeps knocking does not get through sooner.
    """
    async with uow_factory() as uow:
        counted = await uow.sessions.count_start(workspace_id, timedelta(seconds=window.window_s))
        await uow.commit()
    window.check(counted)
