"""Everything the simulator remembers, built fresh by `create_app()` and emptied by reset."""

from dataclasses import asdict, dataclass, fields
from typing import Any

from platform_sim.bluesky_accounts import BlueskyDirectory
from platform_sim.clock import SimClock
from platform_sim.faults import FaultBook
from platform_sim.mastodon_apps import MastodonRegistry
from platform_sim.store import TokenStore
from platform_sim.timeline import CallTimeline
from platform_sim.users import UserDirectory

__all__ = ["SimConfig", "SimState"]


@dataclass(slots=True)
class SimConfig:
    bluesky_session_limit: int = 30
    bluesky_session_window_seconds: float = 300.0
    bluesky_auto_register: bool = True
    linkedin_refresh_tokens: bool = True
    google_testing_mode: bool = False
    hang_seconds: float = 60.0

    def update(self, data: dict[str, Any]) -> None:
        for f in fields(self):
            if f.name in data:
                current = getattr(self, f.name)
                setattr(self, f.name, type(current)(data[f.name]))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SimState:
    def __init__(self) -> None:
        self.clock = SimClock()
        self.reset()

    def reset(self) -> None:
        self.clock.offset = 0.0
        self.config = SimConfig()
        self.store = TokenStore(self.clock)
        self.users = UserDirectory()
        self.faults = FaultBook()
        self.timeline = CallTimeline()
        self.mastodon = MastodonRegistry()
        self.bluesky = BlueskyDirectory()
        self.client_secrets: dict[tuple[str, str], str] = {}

    def client_ok(self, provider: str, client_id: str, secret: str | None) -> bool:
        """Any client is accepted unless a test registered its secret via control."""
        expected = self.client_secrets.get((provider, client_id))
        return expected is None or expected == secret
