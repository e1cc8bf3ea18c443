"""The simulated clock: wall time plus an offset that tests move forward."""

import time

__all__ = ["SimClock"]


class SimClock:
    """Every lifetime in the simulator is measured on this clock, so a test can make a token
    "25 hours old" by advancing it instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
