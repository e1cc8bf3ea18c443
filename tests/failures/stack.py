"""The failure tests' own broker and database server, and the launcher commands for them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mooring.settings import DatabaseSettings, KafkaSettings

__all__ = ["KAFKA_PORT", "MAIN_PORTS", "PG_PORT", "FailureStack"]

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "deploy" / "local" / "stack.py"
KAFKA_PORT = int(os.environ.get("MOORING_FAILURE_KAFKA_PORT", "19096"))
PG_PORT = int(os.environ.get("MOORING_FAILURE_PG_PORT", "55433"))
# The main stack's ports: `make test` and the demo run there; these tests stop what they use.
MAIN_PORTS = frozenset(
    {
        int(os.environ.get("MOORING_KAFKA_PORT", "19092")),
        int(os.environ.get("MOORING_PG_PORT", "55432")),
    }
)
STACK_TIMEOUT_S = 150.0


def _stack_env() -> dict[str, str]:
    """The launcher's environment without anything that names the main stack's servers."""
    return {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    }


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class FailureStack:
    """The failure broker and server, and the launcher commands that stop and start them."""

    kafka: KafkaSettings
    server: DatabaseSettings  # the launcher's `mooring` database on the failure server

    def run(self, command: str, component: str) -> None:
        result = subprocess.run(
            [sys.executable, str(STACK), command, component],
            env=_stack_env(),
            capture_output=True,
            text=True,
            timeout=STACK_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"stack.py {command} {component} failed:\n{result.stderr[-3000:]}")

    async def stop_kafka(self) -> None:
        await asyncio.to_thread(self.run, "stop", "failures-kafka")

    async def start_kafka(self) -> None:
        await asyncio.to_thread(self.run, "start", "failures-kafka")

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self.run, "stop", "failures-postgres")

    async def start_postgres(self) -> None:
        await asyncio.to_thread(self.run, "start", "failures-postgres")

    def ensure_running(self) -> None:
        """Both up (a test that failed half-way may have left one stopped)."""
        if not _answers(PG_PORT):
            self.run("start", "failures-postgres")
        if not _answers(KAFKA_PORT):
            self.run("start", "failures-kafka")
