"""`make demo`: a connection's life told against the stack `make run` started.

Reads `.run/endpoints.env` (the URLs, the mail folder, the service token) and
`.run/services.env` (what the services run with: jobs run with it, as `make job` does) and runs
the story in `demo_story.py`, printing each step and every event of the demo's workspace as it
flows through Kafka. Each run uses a workspace of its own, so it can be run again on the same
stack. Exit 0 when the whole story held, 1 naming the step that failed, 2 when nothing is
running.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from demo_story import DemoFailedError, Endpoints, NotRunningError, run_demo

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("MOORING_RUN_STATE_DIR", ROOT / ".run"))
URL_KEYS = (
    "CONNECTOR_URL",
    "TOKEN_KEEPER_URL",
    "HEALTH_CHECKER_URL",
    "NOTIFIER_URL",
    "BILLING_GATE_URL",
    "SIM_URL",
    "MAIL_DIR",
    "SERVICE_TOKEN",
)
SERVICE_KEYS = ("MOORING_GATEWAY_JWT_SECRET",)  # the demo signs its gateway tokens with it
NOT_RUNNING = "nothing is running here; start the stack with `make run` (in another terminal) first"


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def endpoints() -> Endpoints:
    endpoints_env, services_env = STATE / "endpoints.env", STATE / "services.env"
    if not endpoints_env.exists() or not services_env.exists():
        raise NotRunningError(NOT_RUNNING)
    urls = read_env(endpoints_env)
    service_env = os.environ | read_env(services_env)
    missing = [k for k in URL_KEYS if not urls.get(k)]
    missing += [k for k in SERVICE_KEYS if not service_env.get(k)]
    if missing:
        # Files from another version of the launcher, or edited by hand: say what is missing
        # rather than fail half-way through the story.
        raise NotRunningError(
            f"{STATE} lacks {', '.join(missing)}; start the stack again with `make run`"
        )
    return Endpoints(
        connector=urls["CONNECTOR_URL"],
        token_keeper=urls["TOKEN_KEEPER_URL"],
        health_checker=urls["HEALTH_CHECKER_URL"],
        notifier=urls["NOTIFIER_URL"],
        billing_gate=urls["BILLING_GATE_URL"],
        sim=urls["SIM_URL"],
        mail_dir=Path(urls["MAIL_DIR"]),
        service_token=urls["SERVICE_TOKEN"],
        service_env=service_env,
    )


def main() -> int:
    try:
        asyncio.run(run_demo(endpoints()))
    except NotRunningError as exc:
        hint = "" if str(exc) == NOT_RUNNING else " (is `make run` still running?)"
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2
    except DemoFailedError as exc:
        print(f"\ndemo failed at step {exc.step!r}: {exc.reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
