"""`python -m platform_sim` / `platform-sim`: run the simulator with uvicorn."""

import argparse
import logging
import signal
import sys
from types import FrameType

import uvicorn

from platform_sim.app import create_app

__all__ = ["main"]


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="platform-sim", description=__doc__)
    # Loopback by default: the simulator hands out tokens to anyone who asks.
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8990)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def _exit_zero(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    config = uvicorn.Config(
        create_app(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=args.log_level,
        # A hanging fault must not keep a SIGTERM waiting for its full duration.
        timeout_graceful_shutdown=2,
        lifespan="off",
    )
    # uvicorn shuts down gracefully, then re-raises the signal it caught; exit 0 rather than
    # die by it, so supervisors (make run) see a clean stop.
    signal.signal(signal.SIGTERM, _exit_zero)
    signal.signal(signal.SIGINT, _exit_zero)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
