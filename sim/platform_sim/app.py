"""The application factory: one Starlette app serving every provider and the control API."""

from starlette.applications import Starlette
from starlette.middleware import Middleware

from platform_sim.control import control_routes
from platform_sim.middleware import FaultMiddleware
from platform_sim.providers import provider_routes
from platform_sim.state import SimState

__all__ = ["create_app"]


def create_app(state: SimState | None = None) -> Starlette:
    state = state or SimState()
    app = Starlette(
        routes=[control_routes(state), *provider_routes(state)],
        middleware=[Middleware(FaultMiddleware, state=state)],
    )
    app.state.sim = state
    return app
