"""A real HTTP server that behaves like the 12 social platforms Mooring connects to."""

from platform_sim.app import create_app

__all__ = ["create_app"]
