"""The health-checker's subscribers: the publisher's delivery events, in batches.

Ack policy, retries, the DLQ and the inbox come from `ServiceRuntime.subscribe_batch`: the
handler gets only events this group has not handled, in one unit of work the runtime commits.
Ordering key: the post id; not relied on (the three event types travel on three topics anyway):
the fold is order-tolerant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from health_checker.service_layer.stuck import D, project_deliveries
from health_checker.service_layer.unit_of_work import AbstractHealthUnitOfWork
from mooring.events import Envelope

__all__ = ["KafkaHandlers"]


@dataclass(frozen=True)
class KafkaHandlers:
    retention: timedelta

    async def on_deliveries(
        self,
        envelopes: Sequence[Envelope[D]],
        uow: AbstractHealthUnitOfWork,
    ) -> None:
        await project_deliveries(uow, envelopes, retention=self.retention)
