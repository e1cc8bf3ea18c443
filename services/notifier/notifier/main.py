"""The notifier composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

from fastapi import FastAPI

from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from notifier.config import Settings

__all__ = ["SERVICE", "create_app"]

SERVICE = "notifier"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings)
    return build_http_app(runtime, title="Mooring notifier")
