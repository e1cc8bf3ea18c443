"""The process itself: loopback only by default, clean exit on SIGTERM even mid-hang."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx


def _start(port):
    proc = subprocess.Popen(
        [sys.executable, "-m", "platform_sim", "--port", str(port), "--log-level", "info"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_control/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("no health")


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_cleanly_while_a_request_hangs():
    port = _free_port()
    proc = _start(port)
    base = f"http://127.0.0.1:{port}"
    httpx.post(f"{base}/_control/faults", json={"platform": "x", "kind": "hang", "seconds": 120})

    def hang():
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{base}/x/2/users/me", timeout=30)

    worker = threading.Thread(target=hang, daemon=True)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=15)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    assert time.monotonic() - started < 10
    assert code == 0, stderr
    assert "127.0.0.1" in stderr
