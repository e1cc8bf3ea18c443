"""`make run`: infrastructure, the platform simulator and the five services on one machine.

Starts everything, waits until each service reports ready, prints the URLs, writes them to
.run/endpoints.env, and on Ctrl-C (or SIGTERM) stops the services and then the infrastructure.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"
PY = sys.executable
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Proc:
    name: str
    env_key: str
    module: str
    port: int
    health: str  # an HTTP path; empty: ready once the port accepts connections
    command: tuple[str, ...] = ()  # instead of `python -m <module>`
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


SIM = Proc("platform-sim", "SIM_URL", "platform_sim", 8990, "/_control/health")
# Every e-mail the notifier sends lands in .run/mail/ as one .eml file.
MAIL_DIR = RUN / "mail"
SMTP_CATCHER = Proc(
    "smtp-catcher",
    "SMTP_CATCHER_URL",
    "smtp_catcher",
    8025,
    "",
    command=(
        PY,
        str(ROOT / "deploy/local/smtp_catcher.py"),
        "--port",
        "8025",
        "--dir",
        str(MAIL_DIR),
    ),
    scheme="smtp",
)
SERVICES = [
    Proc("connector", "CONNECTOR_URL", "connector", 8101, "/health/ready"),
    Proc("token-keeper", "TOKEN_KEEPER_URL", "token_keeper", 8102, "/health/ready"),
    Proc("health-checker", "HEALTH_CHECKER_URL", "health_checker", 8103, "/health/ready"),
    Proc("notifier", "NOTIFIER_URL", "notifier", 8104, "/health/ready"),
    Proc("billing-gate", "BILLING_GATE_URL", "billing_gate", 8105, "/health/ready"),
]


def log(message: str) -> None:
    print(f"[run] {message}", file=sys.stderr, flush=True)


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def dev_secrets() -> dict[str, str]:
    """Development secrets kept across runs, so tokens stored yesterday still decrypt today.

    A secret missing from the file (an older checkout) is added; existing ones never change.
    """
    path = RUN / "dev-secrets.env"
    stored = read_env(path) if path.exists() else {}
    service_token = stored.get("SERVICE_TOKEN") or secrets.token_urlsafe(24)
    wanted = {
        "MOORING_VAULT_KEYS": f"dev1:{base64.b64encode(os.urandom(32)).decode()}",
        "MOORING_VAULT_CURRENT_KEY_ID": "dev1",
        "MOORING_GATEWAY_JWT_SECRET": secrets.token_urlsafe(32),
        "SERVICE_TOKEN": service_token,
        "DEV_WORKSPACE_ID": str(uuid.uuid4()),
    }
    # Every service admits the same service token on its /internal routes, and presents it
    # when it calls another one (the connector asks billing-gate).
    wanted |= {
        f"{p.name.upper().replace('-', '_')}_SERVICE_TOKENS": service_token for p in SERVICES
    }
    wanted["MOORING_BILLING_SERVICE_TOKEN"] = service_token
    merged = wanted | stored
    if merged != stored:
        write_private(path, merged)
    return merged


def write_private(path: Path, values: dict[str, str]) -> None:
    """An env file only its owner can read: it holds keys and tokens."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)  # an older file may have been created with wider rights


def shown(key: str, value: str) -> str:
    """What the terminal may show of a value: secrets only by their first characters."""
    secret = any(word in key for word in ("TOKEN", "SECRET", "KEY", "PASSWORD"))
    return value[:6] + "…" if secret and len(value) > 6 else value


def dev_token(env: dict[str, str]) -> str:
    """A gateway token for the development workspace, as its owner."""
    return subprocess.run(
        [PY, "-m", "mooring.cli.dev_token", "--workspace", env["DEV_WORKSPACE_ID"]],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def is_ready(proc: Proc) -> bool:
    return healthy(proc.url + proc.health) if proc.health else listening(proc.port)


def start(proc: Proc, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    args = list(proc.command) or [PY, "-m", proc.module]
    if proc is SIM:
        args += ["--host", "127.0.0.1", "--port", str(proc.port)]
    prefix = proc.name.upper().replace("-", "_")
    out = (logs / f"{proc.name}.log").open("ab")
    return subprocess.Popen(
        args,
        env=env | {f"{prefix}_HTTP_PORT": str(proc.port)},
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class Supervisor:
    """Owns the child processes: starts them, waits for ready, watches, and stops them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[tuple[Proc, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def request_stop(self, *_: object) -> None:
        self.stopping = True

    def exited(self) -> str | None:
        for proc, popen in self.procs:
            if popen.poll() is not None:
                return f"{proc.name} exited with {popen.returncode}; see .run/logs/{proc.name}.log"
        return None

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = {p.name for p, _ in self.procs}
        while pending and not self.stopping:
            if (problem := self.exited()) is not None:
                log(problem)
                return False
            for proc, _ in self.procs:
                if proc.name in pending and is_ready(proc):
                    pending.discard(proc.name)
                    log(f"{proc.name} ready at {proc.url}")
            if time.monotonic() > deadline:
                log(f"not ready after {READY_TIMEOUT_S:.0f}s: {sorted(pending)}")
                return False
            time.sleep(0.3)
        return not self.stopping

    def watch(self) -> None:
        while not self.stopping:
            if (problem := self.exited()) is not None:
                log(f"{problem}; stopping everything")
                return
            time.sleep(0.5)

    def shutdown(self) -> None:
        for _, popen in reversed(self.procs):
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        for proc, popen in reversed(self.procs):
            try:
                popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{proc.name} ignored SIGTERM; killing")
                popen.kill()


def main() -> int:
    before = stack_status()
    subprocess.run([PY, str(ROOT / "deploy/local/stack.py"), "start"], check=True)
    # Stop at the end only what this run started (a `make infra` from before keeps running).
    ours = [name for name in ("kafka", "postgres") if before.get(name) == "stopped"]
    infra = read_env(RUN / "infra.env")
    service_env = infra | dev_secrets() | simulator_env(SIM.url) | notifier_mail_env()
    env = dict(os.environ) | service_env
    logs = RUN / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(env, logs)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        # Migrations once, before the replicas race for them.
        subprocess.run([PY, "-m", "mooring.db.migrate", "upgrade"], env=env, check=True)
        supervisor.procs = [
            (proc, start(proc, env, logs)) for proc in [SIM, SMTP_CATCHER, *SERVICES]
        ]
        if not supervisor.wait_ready():
            return 130 if supervisor.stopping else 1
        endpoints = {p.env_key: p.url for p in [*SERVICES, SIM, SMTP_CATCHER]} | infra
        endpoints["MAIL_DIR"] = str(MAIL_DIR)
        endpoints |= {
            "DEV_WORKSPACE_ID": env["DEV_WORKSPACE_ID"],
            "DEV_TOKEN": dev_token(env),
            "SERVICE_TOKEN": env["SERVICE_TOKEN"],
        }
        write_private(RUN / "endpoints.env", endpoints)
        # What the services run with, for `make job` (a job runs as its service would).
        write_private(RUN / "services.env", service_env)
        print("\nMooring is running:")
        for key, value in endpoints.items():
            print(f"  {key}={shown(key, value)}")
        print("\n(full values in .run/endpoints.env, readable only by you; logs in .run/logs/;")
        print(" Ctrl-C stops everything)")
        supervisor.watch()
        return 0
    finally:
        (RUN / "endpoints.env").unlink(missing_ok=True)
        (RUN / "services.env").unlink(missing_ok=True)
        supervisor.shutdown()
        if ours:
            subprocess.run([PY, str(ROOT / "deploy/local/stack.py"), "stop", *ours], check=False)
        log("stopped")


def stack_status() -> dict[str, str]:
    out = subprocess.run(
        [PY, str(ROOT / "deploy/local/stack.py"), "status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        k.strip(): v.split()[0] for k, _, v in (line.partition(":") for line in out.splitlines())
    }


def notifier_mail_env() -> dict[str, str]:
    """The notifier sends to the local catcher (plain SMTP on loopback)."""
    return {
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(SMTP_CATCHER.port),
        "NOTIFIER_SMTP_SECURITY": "none",
    }


def simulator_env(sim_url: str) -> dict[str, str]:
    """Point every platform adapter at the simulator: configuration only."""
    from mooring.platforms.simulator import simulator_environment  # noqa: PLC0415 - venv-only import

    return {"SIM_URL": sim_url, **simulator_environment(sim_url)}


if __name__ == "__main__":
    sys.exit(main())
