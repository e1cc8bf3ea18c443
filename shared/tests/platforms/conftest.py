"""Shared by the platforms tests: the simulator process, and ResourceWarning as an error.

ResourceWarning is an error for every test here (the root config ignores it elsewhere): an HTTP
client, an aiohttp session, a socket or a transport left unclosed by an adapter call (or by a
test) fails the test during which it is collected instead of passing silently. A warning raised
while an object is garbage-collected reaches pytest as an unraisable exception, which the root
`error` filter fails.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("error::ResourceWarning"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    """The platform simulator, a subprocess on a free loopback port for the whole session."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "platform_sim", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            if process.poll() is not None:
                pytest.fail("the simulator exited at start-up")
            try:
                if httpx.get(f"{url}/_control/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the simulator did not become healthy")
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
