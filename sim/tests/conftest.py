"""The simulator runs as a real subprocess on a free loopback port for the whole session."""

import base64
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

REDIRECT = "http://127.0.0.1:1/callback"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "platform_sim",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/_control/health", timeout=0.5).status_code
                == 200
            ):
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("simulator did not become healthy")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


@dataclass
class Sim:
    url: str
    http: httpx.Client
    redirect: str = REDIRECT

    @staticmethod
    def pkce() -> tuple[str, str]:
        return pkce_pair()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, f"/_control{path}", json=json)
        assert response.status_code == 200, response.text
        return response.json()

    def consent(
        self,
        path: str,
        *,
        user: str = "alice",
        decision: str = "approve",
        state: str = "st-1",
        **params: str,
    ) -> dict[str, str]:
        """Run an authorize URL non-interactively; return the redirect's query."""
        query = {
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": state,
            **params,
            "sim_user": user,
            "sim_decision": decision,
        }
        if "client_id" not in query and "client_key" not in query:
            query["client_id"] = "mooring-app"
        response = self.http.get(path, params=query)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(REDIRECT)
        return query_of(location.split("#", 1)[0])

    def advance(self, seconds: float) -> None:
        self.control("POST", "/clock", {"advance_seconds": seconds})


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    port = free_port()
    proc = start_simulator(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture
def sim(sim_url: str) -> Iterator[Sim]:
    with httpx.Client(base_url=sim_url, timeout=10) as client:
        handle = Sim(url=sim_url, http=client)
        handle.control("POST", "/reset")
        yield handle
