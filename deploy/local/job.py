"""`make job NAME=social:check-connections`: run one scheduled job now, against `make run`'s stack.

Finds the service that schedules NAME (each service lists its jobs: `python -m <service> jobs`)
and runs `python -m <service> job NAME` with the environment the running services have, so the
job sees the same database, vault keys and platforms. What it emits goes through the outbox and
the running services' relays.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"
MODULES = ("connector", "token_keeper", "health_checker", "notifier", "billing_gate")


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0]:
        print("usage: make job NAME=<job name>, e.g. make job NAME=social:check-connections")
        return 2
    name = argv[0]
    services_env = RUN / "services.env"
    if not services_env.exists():
        print(
            "error: nothing is running here; start the stack with `make run` first", file=sys.stderr
        )
        return 2
    env = os.environ | read_env(services_env)
    known: dict[str, str] = {}
    for module in MODULES:
        listed = subprocess.run(
            [sys.executable, "-m", module, "jobs"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in listed.stdout.splitlines():
            known[line.split("\t", 1)[0]] = module
    if name not in known:
        print(
            f"error: no service schedules {name!r}; jobs: {', '.join(sorted(known)) or 'none'}",
            file=sys.stderr,
        )
        return 2
    return subprocess.run(
        [sys.executable, "-m", known[name], "job", name], env=env, check=False
    ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
