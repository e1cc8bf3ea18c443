"""The connector composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

from fastapi import FastAPI

from connector.config import Settings
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime

__all__ = ["SERVICE", "create_app"]

SERVICE = "connector"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings)
    return build_http_app(runtime, title="Mooring connector")
