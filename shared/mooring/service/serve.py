"""Run a service's FastAPI app under uvicorn with JSON logs; SIGTERM shuts it down cleanly."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from mooring.logs import configure_logging
from mooring.service.settings import ServiceSettings

__all__ = ["serve"]


def serve(name: str, app: FastAPI, settings: ServiceSettings) -> None:
    configure_logging(name, settings.log_level)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )
