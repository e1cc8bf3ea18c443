"""`make run`: infrastructure, the platform simulator and the five services on one machine.

Starts everything, waits until each service reports ready, prints the URLs, writes them to
.run/endpoints.env, and supervises: a process that dies is reported and started again with a
back-off (1 s, 2 s, 4 s ... 30 s) while the rest keeps running; one that dies more than
MOORING_RUN_MAX_RESTARTS times within five minutes, or Kafka or PostgreSQL going away, stops
everything and exits 1. Ctrl-C (or SIGTERM) stops the services and then the infrastructure
this run started, and exits 0.

MOORING_RUN_PORT_OFFSET moves every port (a second stack beside a running one);
MOORING_RUN_STATE_DIR keeps this run's logs, mail and env files elsewhere than .run/.
"""

from __future__ import annotations

import base64
import json
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"  # the launcher's (infra.env) and, by default, this run's state
STATE = Path(os.environ.get("MOORING_RUN_STATE_DIR", RUN))
OFFSET = int(os.environ.get("MOORING_RUN_PORT_OFFSET", "0"))
PY = sys.executable
READY_TIMEOUT_S = 120.0
MAX_RESTARTS = int(os.environ.get("MOORING_RUN_MAX_RESTARTS", "5"))
RESTART_WINDOW_S = 300.0
INFRA_CHECK_S = 5.0


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


SIM = Proc("platform-sim", "SIM_URL", "platform_sim", 8990 + OFFSET, "/_control/health")
# Every e-mail the notifier sends lands in .run/mail/ as one .eml file.
MAIL_DIR = STATE / "mail"
SMTP_CATCHER = Proc(
    "smtp-catcher",
    "SMTP_CATCHER_URL",
    "smtp_catcher",
    8025 + OFFSET,
    "",
    command=(
        PY,
        str(ROOT / "deploy/local/smtp_catcher.py"),
        "--port",
        str(8025 + OFFSET),
        "--dir",
        str(MAIL_DIR),
    ),
    scheme="smtp",
)
SERVICES = [
    Proc("connector", "CONNECTOR_URL", "connector", 8101 + OFFSET, "/health/ready"),
    Proc("token-keeper", "TOKEN_KEEPER_URL", "token_keeper", 8102 + OFFSET, "/health/ready"),
    Proc("health-checker", "HEALTH_CHECKER_URL", "health_checker", 8103 + OFFSET, "/health/ready"),
    Proc("notifier", "NOTIFIER_URL", "notifier", 8104 + OFFSET, "/health/ready"),
    Proc("billing-gate", "BILLING_GATE_URL", "billing_gate", 8105 + OFFSET, "/health/ready"),
]
# The platform's input events (plans, owners, post deliveries) carry this source in make run.
PLATFORM_SOURCE = "platform"


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
    path = STATE / "dev-secrets.env"
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
    named = key.endswith(("_URL", "_DIR", "_ID"))  # TOKEN_KEEPER_URL names a service
    secret = not named and any(word in key for word in ("TOKEN", "SECRET", "KEY", "PASSWORD"))
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


@dataclass
class Child:
    proc: Proc
    popen: subprocess.Popen[bytes]
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None


class Supervisor:
    """Owns the child processes: starts them, waits for ready, restarts the ones that die."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.children: list[Child] = []
        self.stopping = False
        self.gave_up: str | None = None
        self._infra_checked = 0.0

    def request_stop(self, *_: object) -> None:
        self.stopping = True

    def launch(self, procs: list[Proc]) -> None:
        self.children = [Child(proc, start(proc, self.env, self.logs)) for proc in procs]
        self.record_pids()

    def record_pids(self) -> None:
        pids = {c.proc.name: c.popen.pid for c in self.children}
        (STATE / "pids.json").write_text(json.dumps(pids, indent=2) + "\n")

    def exited(self) -> str | None:
        for child in self.children:
            if child.popen.poll() is not None:
                name = child.proc.name
                return f"{name} exited with {child.popen.returncode}; see {self.logs}/{name}.log"
        return None

    def wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = {c.proc.name for c in self.children}
        while pending and not self.stopping:
            if (problem := self.exited()) is not None:
                log(problem)
                return False
            for child in self.children:
                if child.proc.name in pending and is_ready(child.proc):
                    pending.discard(child.proc.name)
                    log(f"{child.proc.name} ready at {child.proc.url}")
            if time.monotonic() > deadline:
                log(f"not ready after {READY_TIMEOUT_S:.0f}s: {sorted(pending)}")
                return False
            time.sleep(0.3)
        return not self.stopping

    def watch(self, infra_alive: Callable[[], str | None]) -> bool:
        """Until stopped: restart what dies. False when it gave up (see `gave_up`)."""
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                self._tend(child, now)
                if self.gave_up:
                    return False
            if now - self._infra_checked > INFRA_CHECK_S:
                self._infra_checked = now
                if (problem := infra_alive()) is not None:
                    self.gave_up = problem
                    log(f"{problem}; stopping everything")
                    return False
            time.sleep(0.5)
        return True

    def _tend(self, child: Child, now: float) -> None:
        name = child.proc.name
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.popen = start(child.proc, self.env, self.logs)
                child.restart_at = None
                self.record_pids()
                log(f"{name} restarted (pid {child.popen.pid})")
            return
        code = child.popen.poll()
        if code is None:
            return
        child.deaths = [t for t in child.deaths if now - t < RESTART_WINDOW_S] + [now]
        if len(child.deaths) > MAX_RESTARTS:
            self.gave_up = f"{name} died {len(child.deaths)} times in {RESTART_WINDOW_S:.0f} s"
            log(f"{self.gave_up} (last exit {code}); giving up and stopping everything")
            return
        delay = min(2.0 ** (len(child.deaths) - 1), 30.0)
        child.restart_at = now + delay
        log(f"{name} exited with {code} (see {self.logs}/{name}.log); restarting in {delay:.0f} s")

    def shutdown(self) -> None:
        for child in reversed(self.children):
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{child.proc.name} ignored SIGTERM; killing")
                child.popen.kill()


def main() -> int:
    before = stack_status()
    subprocess.run([PY, str(ROOT / "deploy/local/stack.py"), "start"], check=True)
    # Stop at the end only what this run started (a `make infra` from before keeps running).
    ours = [name for name in ("kafka", "postgres") if before.get(name) == "stopped"]
    infra = dict(
        line.split("=", 1)
        for line in subprocess.run(
            [PY, str(ROOT / "deploy/local/stack.py"), "env"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()
        if "=" in line
    )  # fmt: skip
    STATE.mkdir(parents=True, exist_ok=True)
    service_env = (
        infra | dev_secrets() | simulator_env(SIM.url) | notifier_mail_env() | contract_env()
    )
    env = dict(os.environ) | service_env
    logs = STATE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(env, logs)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    try:
        # Migrations once, before the replicas race for them.
        subprocess.run([PY, "-m", "mooring.db.migrate", "upgrade"], env=env, check=True)
        supervisor.launch([SIM, SMTP_CATCHER, *SERVICES])
        if not supervisor.wait_ready():
            return 130 if supervisor.stopping else 1
        endpoints = {p.env_key: p.url for p in [*SERVICES, SIM, SMTP_CATCHER]} | infra
        endpoints["MAIL_DIR"] = str(MAIL_DIR)
        endpoints |= {
            "DEV_WORKSPACE_ID": env["DEV_WORKSPACE_ID"],
            "DEV_TOKEN": dev_token(env),
            "SERVICE_TOKEN": env["SERVICE_TOKEN"],
        }
        write_private(STATE / "endpoints.env", endpoints)
        # What the services run with, for `make job` (a job runs as its service would).
        write_private(STATE / "services.env", service_env)
        print("\nMooring is running:", flush=True)
        for key, value in endpoints.items():
            print(f"  {key}={shown(key, value)}")
        print(f"\n(full values in {STATE}/endpoints.env, readable only by you; logs in {logs}/;")
        print(" Ctrl-C stops everything)", flush=True)
        return 0 if supervisor.watch(infra_gone) else 1
    finally:
        (STATE / "endpoints.env").unlink(missing_ok=True)
        (STATE / "services.env").unlink(missing_ok=True)
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


def infra_gone() -> str | None:
    """Kafka and PostgreSQL, checked by the launcher: the services cannot work without them."""
    status = stack_status()
    down = [name for name in ("kafka", "postgres") if status.get(name) == "stopped"]
    return f"{' and '.join(down)} stopped" if down else None


def contract_env() -> dict[str, str]:
    """Consumers accept each event only from the producers the contract names."""
    from mooring.events import CONTRACT_SOURCES  # noqa: PLC0415 - venv-only import

    inputs = ("workspace.plan_changed", "workspace.owner_changed", "post.publishing",
              "post.published", "post.failed")  # fmt: skip
    allowed = CONTRACT_SOURCES | {key: [PLATFORM_SOURCE] for key in inputs}
    return {
        "MOORING_CONSUMER_ALLOWED_SOURCES": json.dumps(allowed, sort_keys=True),
        "MOORING_BILLING_BASE_URL": SERVICES[-1].url,  # the connector asks billing-gate
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
