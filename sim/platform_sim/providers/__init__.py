"""One module per real API; each returns a Starlette Mount under its URL prefix."""

from starlette.routing import BaseRoute

from platform_sim.providers import (
    bluesky,
    facebook,
    google,
    instagram,
    linkedin,
    mastodon,
    pinterest,
    threads,
    tiktok,
    x,
)
from platform_sim.state import SimState

__all__ = ["provider_routes"]


def provider_routes(state: SimState) -> list[BaseRoute]:
    # X first: it is the hot path of the refresh benchmark.
    return [
        x.mount(state),
        pinterest.mount(state),
        tiktok.mount(state),
        google.mount(state),
        linkedin.mount(state),
        facebook.mount(state),
        instagram.mount(state),
        threads.mount(state),
        bluesky.mount(state),
        mastodon.mount(state),
    ]
