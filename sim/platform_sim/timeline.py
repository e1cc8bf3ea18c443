"""Calls per platform over time: what a test reads to check a client's request rate.

Every provider call is counted in a 100 ms slot of the simulator's wall clock (not the simulated
clock: rates are about real time). The control API sums slots into buckets of the resolution a
caller asks for. Only the last hour is kept, so a long-running simulator stays small.
"""

import time
from collections.abc import Callable

__all__ = ["CallTimeline"]

SLOT_S = 0.1
_KEEP_SLOTS = 36_000  # one hour of 100 ms slots
_PRUNE_EVERY_SLOTS = 600  # look for slots older than that once a minute


class CallTimeline:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._slots: dict[str, dict[int, int]] = {}
        self._pruned_at = 0

    def count(self, platform: str) -> None:
        slot = int(self._clock() / SLOT_S)
        slots = self._slots.get(platform)
        if slots is None:
            slots = self._slots[platform] = {}
        slots[slot] = slots.get(slot, 0) + 1
        if slot - self._pruned_at >= _PRUNE_EVERY_SLOTS:
            self._pruned_at = slot
            oldest = slot - _KEEP_SLOTS
            for per_platform in self._slots.values():
                for stale in [s for s in per_platform if s <= oldest]:
                    del per_platform[stale]

    def clear(self) -> None:
        self._slots.clear()

    def buckets(self, platform: str, resolution_s: float) -> list[tuple[float, int]]:
        """(bucket start in epoch seconds, calls) for every bucket with a call, oldest first."""
        per = max(1, round(resolution_s / SLOT_S))
        summed: dict[int, int] = {}
        for slot, calls in self._slots.get(platform, {}).items():
            summed[slot // per] = summed.get(slot // per, 0) + calls
        return [(round(b * per * SLOT_S, 3), summed[b]) for b in sorted(summed)]

    def platforms(self) -> list[str]:
        return sorted(self._slots)
