"""The body of every service's `__main__`: serve, or run one scheduled job on demand.

python -m <service>                 serve HTTP, consume, relay, schedule
python -m <service> jobs            list the service's scheduled jobs
python -m <service> job <name>      run one job now, with a progress line; exit 0 when it
                                    succeeded, 1 when it failed, 2 when it cannot start
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from mooring.cli.progress import ProgressLine
from mooring.logs import configure_logging
from mooring.service.scheduler import JobBusyError
from mooring.service.settings import ServiceSettings

__all__ = ["main", "run_service"]

S = TypeVar("S", bound=ServiceSettings)


def run_service(name: str, settings_type: type[S], create_app: Callable[[S], FastAPI]) -> None:
    """Serve under uvicorn with JSON logs; SIGTERM shuts down cleanly.

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


def main(
    name: str,
    settings_type: type[S],
    create_app: Callable[[S], FastAPI],
    argv: Sequence[str] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {name.replace('-', '_')}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the service (the default)")
    sub.add_parser("jobs", help="list the scheduled jobs")
    job = sub.add_parser("job", help="run one scheduled job now")
    job.add_argument("job_name")
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        run_service(name, settings_type, create_app)
        return 0
    settings = settings_type()
    # The progress line owns the terminal; only warnings and errors are logged meanwhile.
    configure_logging(name, "WARNING")
    runtime: Any = create_app(settings).state.runtime
    if args.command == "jobs":
        for job_name, spec in sorted(runtime.scheduler.jobs.items()):
            print(f"{job_name}\tevery {spec.every}")  # noqa: T201 - the command's output
        return 0
    return asyncio.run(_run_job(runtime, args.job_name))


async def _run_job(runtime: Any, job_name: str) -> int:
    if job_name not in runtime.scheduler.jobs:
        known = ", ".join(sorted(runtime.scheduler.jobs)) or "none"
        print(f"error: {runtime.name} has no job {job_name!r} (its jobs: {known})", file=sys.stderr)  # noqa: T201
        return 2
    display = ProgressLine(job_name)
    try:
        run = await runtime.run_job(job_name, on_progress=display)
    except JobBusyError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    display.finish(run.progress)
    outcome = f"{job_name} {run.status} (run {run.run_id})"
    if run.error:
        outcome += f": {run.error}"
    print(outcome)  # noqa: T201
    logging.shutdown()
    return 0 if run.status == "succeeded" else 1
