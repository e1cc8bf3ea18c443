"""A one-line progress display on the terminal (stderr), for commands a person watches."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["ProgressLine", "bar"]


def bar(done: int, total: int | None, width: int = 30) -> str:
    if not total:
        return "[" + "?" * width + "]"
    filled = min(width, width * done // total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


class ProgressLine:
    """Redraws `label [####......] done/total key=value ... rate/s` in place."""

    def __init__(
        self, label: str, stream: TextIO | None = None, min_interval_s: float = 0.2
    ) -> None:
        self._label = label
        self._stream = stream or sys.stderr  # looked up now: tests and tools swap sys.stderr
        self._started = time.monotonic()
        self._last = 0.0
        self._min_interval_s = min_interval_s

    def __call__(self, state: Mapping[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last < self._min_interval_s:
            return
        self._last = now
        self._stream.write("\r" + self.render(state, now) + "\x1b[K")
        self._stream.flush()

    def render(self, state: Mapping[str, Any], now: float | None = None) -> str:
        done = int(state.get("done", 0))
        total = state.get("total")
        elapsed = max((now or time.monotonic()) - self._started, 1e-9)
        counts = " ".join(f"{k}={v}" for k, v in state.items() if k not in {"done", "total"})
        of = f"/{total}" if total is not None else ""
        return (
            f"{self._label} {bar(done, total)} {done}{of} {counts} {done / elapsed:.0f}/s".rstrip()
        )

    def finish(self, state: Mapping[str, Any]) -> None:
        self._stream.write("\r" + self.render(state) + "\x1b[K\n")
        self._stream.flush()
