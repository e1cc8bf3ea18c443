"""Run a service under uvicorn with JSON logs; SIGTERM shuts it down cleanly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from mooring.logs import configure_logging
from mooring.service.settings import ServiceSettings

__all__ = ["run_service"]

S = TypeVar("S", bound=ServiceSettings)


def run_service(name: str, settings_type: type[S], create_app: Callable[[S], FastAPI]) -> None:
    """The body of every service's `__main__`: settings, logging, then the composition root.

    Logging is configured before `create_app`, so what the composition root logs is JSON too.
    """
    settings = settings_type()
    configure_logging(name, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )
