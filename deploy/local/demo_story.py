"""The demo's story, against running services: `run_demo(endpoints, out)`.

A fresh workspace each run (so it can run again and again on one stack) goes through a
connection's life: X and a Facebook page connected through the platform's consent page, a
YouTube channel whose hour-long Google token token-keeper's sweep refreshes at once, X revoked
at the platform and found by the daily check, the owner told in-app and by e-mail, the starter
plan's cap met with a 402, the plan changed, the connect that now fits, and an account removed.
Every event of the workspace on Kafka is printed as it arrives (`demo_events`).

Every wait has a deadline; a step that fails raises `DemoFailedError` naming it. Nothing
secret is printed: payloads carry no token, and the only token-bearing answers (the platform's
redirect with the code) are never shown. Every answer a Mooring service gave is kept in
`DemoResult.responses` for the end-to-end test's secret scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any, TextIO

import httpx
from demo_browser import BrowserError, authorize
from demo_events import EventTail, SeenEvent
from pydantic import SecretStr

from mooring.service.auth import GatewayJwtSettings, issue_gateway_token

__all__ = ["DemoFailedError", "DemoResult", "Endpoints", "NotRunningError", "run_demo"]

# Where the person lands after a connect: the scheduler's front end, never requested here.
LANDING = "http://127.0.0.1:3000/demo/accounts"
PLAN_LIMIT = "urn:mooring:problem:plan-limit-reached"
STEP_TIMEOUT_S = 120.0
EVENT_TIMEOUT_S = 45.0
JOB_TIMEOUT_S = 180.0
JOB_STEP_TIMEOUT_S = 2 * JOB_TIMEOUT_S + EVENT_TIMEOUT_S
_CLOCK_SLACK = timedelta(seconds=5)  # the database's clock against this process's
HTTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Endpoints:
    """Where the running system is, and what its services run with."""

    connector: str
    token_keeper: str
    health_checker: str
    notifier: str
    billing_gate: str
    sim: str
    mail_dir: Path
    service_token: str
    # The services' environment: jobs run with it (as `make job` does), and it names the broker,
    # the topic prefix and the gateway's signing secret.
    service_env: Mapping[str, str]

    @property
    def services(self) -> dict[str, str]:
        return {
            "connector": self.connector,
            "token-keeper": self.token_keeper,
            "health-checker": self.health_checker,
            "notifier": self.notifier,
            "billing-gate": self.billing_gate,
        }


@dataclass
class DemoResult:
    workspace_id: uuid.UUID
    owner_email: str
    accounts: dict[str, str] = field(default_factory=dict)  # story label -> account id
    statuses: dict[str, str] = field(default_factory=dict)  # label -> status at the end
    events: list[SeenEvent] = field(default_factory=list)
    other_events: int = 0
    refused: dict[str, Any] = field(default_factory=dict)  # the 402 problem
    plan: dict[str, Any] = field(default_factory=dict)  # billing-gate's answer to the change
    usage: dict[str, Any] = field(default_factory=dict)  # at the end
    notification: dict[str, Any] = field(default_factory=dict)
    email: Path | None = None
    check_run_id: str | None = None
    responses: list[str] = field(default_factory=list)  # every answer of a Mooring service
    job_outputs: list[str] = field(default_factory=list)
    gateway_tokens: list[str] = field(default_factory=list)
    seconds: float = 0.0


class NotRunningError(Exception):
    """The system is not there (or not ready): nothing was attempted."""


class DemoFailedError(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step!r} failed: {reason}")
        self.step = step
        self.reason = reason


class StoryError(Exception):
    """Something in a step did not go as the story says it should."""


def _problem(response: httpx.Response) -> str:
    """What a refusal says, from a problem document's type and detail (never the whole body)."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}"
    if not isinstance(body, dict):
        return f"{response.status_code}"
    slug = str(body.get("type", "")).rsplit(":", 1)[-1]
    return f"{response.status_code} {slug}: {str(body.get('detail', ''))[:200]}"


def _when(value: Any) -> str:
    if not value:
        return "never"
    return datetime.fromisoformat(str(value)).strftime("%H:%M:%S UTC")


class Story:
    """The steps, in order, sharing the clients, the event tail and what was found."""

    def __init__(self, endpoints: Endpoints, out: TextIO, result: DemoResult) -> None:
        self.ep = endpoints
        self.out = out
        self.result = result
        self.ws = result.workspace_id
        self.run_tag = self.ws.hex[:6]
        self.number = 0
        env = endpoints.service_env
        gateway = GatewayJwtSettings(
            secret=SecretStr(env.get("MOORING_GATEWAY_JWT_SECRET", "")),
            issuer=env.get("MOORING_GATEWAY_JWT_ISSUER", "mooring-gateway"),
            audience=env.get("MOORING_GATEWAY_JWT_AUDIENCE", "mooring"),
        )
        token = issue_gateway_token(
            gateway, user_id=f"demo-owner-{self.run_tag}", workspace_id=self.ws, role="owner"
        )
        result.gateway_tokens.append(token)
        hooks = {"response": [self._keep]}
        self.owner = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S, event_hooks=hooks
        )
        self.internal = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {endpoints.service_token}"},
            timeout=HTTP_TIMEOUT_S,
            event_hooks=hooks,
        )
        # A browser: it carries no credential. Only its hops at Mooring are kept for the scan;
        # the platform's redirect carries the authorization code by design.
        self.browser = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, event_hooks=hooks)
        self.platform_browser = httpx.AsyncClient(timeout=HTTP_TIMEOUT_S)
        self.sim = httpx.AsyncClient(base_url=f"{endpoints.sim}/_control", timeout=HTTP_TIMEOUT_S)
        self.tail = EventTail(
            env.get("KAFKA_BOOTSTRAP_SERVERS", ""), env.get("KAFKA_TOPIC_PREFIX", ""), self.ws, out
        )

    async def _keep(self, response: httpx.Response) -> None:
        # What the service answered, headers and body; not the request (its URL may be the
        # callback's, with the code).
        await response.aread()
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.result.responses.append(f"{response.status_code}\n{headers}\n{response.text}")

    async def close(self) -> None:
        await self.tail.stop()
        for client in (self.owner, self.internal, self.browser, self.platform_browser, self.sim):
            await client.aclose()

    # -- telling ------------------------------------------------------------------------------

    def say(self, line: str) -> None:
        print(f"      {line}", file=self.out, flush=True)

    @contextlib.asynccontextmanager
    async def step(self, title: str, timeout_s: float = STEP_TIMEOUT_S) -> AsyncIterator[None]:
        self.number += 1
        print(f"\n[{self.number}] {title}", file=self.out, flush=True)
        try:
            async with asyncio.timeout(timeout_s):
                yield
        except TimeoutError as exc:
            raise DemoFailedError(title, str(exc) or f"not done within {timeout_s:.0f} s") from exc
        except (StoryError, BrowserError, httpx.HTTPError, RuntimeError, OSError) as exc:
            raise DemoFailedError(title, str(exc) or type(exc).__name__) from exc

    # -- calls --------------------------------------------------------------------------------

    async def call(
        self, client: httpx.AsyncClient, method: str, url: str, expect: int, **kwargs: Any
    ) -> httpx.Response:
        response = await client.request(method, url, **kwargs)
        if response.status_code != expect:
            path = httpx.URL(url).path
            raise StoryError(f"{method} {path} answered {_problem(response)} (expected {expect})")
        return response

    def _ws(self, base: str, path: str = "") -> str:
        return f"{base}/v1/workspaces/{self.ws}{path}"

    def _internal(self, base: str, path: str = "") -> str:
        return f"{base}/internal/v1/workspaces/{self.ws}{path}"

    async def usage(self) -> dict[str, Any]:
        answer = await self.call(self.owner, "GET", self._ws(self.ep.billing_gate, "/usage"), 200)
        usage: dict[str, Any] = answer.json()
        return usage

    def tell_usage(self, usage: Mapping[str, Any]) -> None:
        self.say(
            f"usage: plan {usage['plan']}, {usage['used']} of {usage['limit']} accounts used"
            f" ({usage['reserved']} reserved), upgrade to {usage['upgrade_to']}"
        )

    async def start_connect(self, platform: str) -> httpx.Response:
        body = {"platform": platform, "redirect_url": LANDING}
        return await self.owner.post(self._ws(self.ep.connector, "/connections"), json=body)

    async def connect(self, label: str, platform: str, user: str) -> str:
        """Connect `platform` as the platform's `user`; the new account's id (kept as `label`)."""
        started = await self.start_connect(platform)
        if started.status_code != 201:
            raise StoryError(f"the connect start answered {_problem(started)}")
        self.say(f"POST .../connections {{platform: {platform}}} -> 201, an authorization URL")
        self.say(f"browser: the platform's consent page, approve as {user!r}, the callback")
        landing = await authorize(
            self.platform_browser, self.browser, started.json()["authorization_url"], user
        )
        if "error" in landing:
            raise StoryError(f"the callback landed with error={landing['error']}")
        if "selection" in landing:
            account_id = await self.select(landing["selection"])
        else:
            account_id = landing["account_id"]
            self.say(f"landed with connected={platform}&account_id={account_id[:8]}...")
        self.result.accounts[label] = account_id
        await self.event("account.connected", label)
        return account_id

    async def select(self, connection_id: str) -> str:
        """The selection step: the person picks the first candidate the grant offers."""
        path = self._ws(self.ep.connector, f"/connections/{connection_id}")
        view = (await self.call(self.owner, "GET", path, 200)).json()
        candidates = view["candidates"]
        if not candidates:
            raise StoryError("the selection offers no candidate")
        names = ", ".join(f"{c['account_type']} {c['name']!r}" for c in candidates)
        self.say(f"landed with selection=...; the person picks one of: {names}")
        chosen = candidates[0]
        body = {"candidate_ids": [chosen["id"]]}
        made = (await self.call(self.owner, "POST", f"{path}/selection", 201, json=body)).json()
        self.say(f"POST .../selection {{{chosen['name']!r}}} -> 201, one account")
        return str(made["accounts"][0]["id"])

    async def account(self, label: str) -> dict[str, Any]:
        path = self._ws(self.ep.connector, f"/accounts/{self.result.accounts[label]}")
        account: dict[str, Any] = (await self.call(self.owner, "GET", path, 200)).json()
        return account

    async def run_job(self, module: str, name: str) -> str:
        """Run a scheduled job now, as `make job` does; its last line. Waits out a run that
        holds the job (exit 2) until the deadline."""
        env = dict(self.ep.service_env)
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, "job", name, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                output, _ = await asyncio.wait_for(
                    process.communicate(), max(deadline - time.monotonic(), 1)
                )
            except TimeoutError:
                raise StoryError(
                    f"{name} did not finish within {JOB_TIMEOUT_S:.0f} s (it works through "
                    "every account of the stack, not only the demo's)"
                ) from None
            finally:
                if process.returncode is None:  # timed out, or the demo was stopped
                    process.kill()
                    await process.wait()
            text = output.decode(errors="replace")
            self.result.job_outputs.append(text)
            lines = [line.strip() for line in text.replace("\r", "\n").splitlines()]
            last = next((line for line in reversed(lines) if line), "")
            if process.returncode == 0:
                return last
            if process.returncode != 2 or time.monotonic() > deadline:
                raise StoryError(
                    f"python -m {module} job {name} exited {process.returncode}: {last}"
                )
            self.say(f"{name} is running elsewhere ({last}); trying again")
            await asyncio.sleep(2)

    async def event(
        self, event_type: str, label: str, where: Callable[[SeenEvent], bool] = lambda _: True
    ) -> SeenEvent:
        """The event about the account `label`; a timeout says how far behind the relay is."""
        key = self.result.accounts[label]
        try:
            return await self.tail.wait_for(event_type, key, timeout_s=EVENT_TIMEOUT_S, where=where)
        except TimeoutError:
            metrics = await self.owner.get(f"{self.ep.connector}/metrics")
            backlog = [
                line
                for line in metrics.text.splitlines()
                if line.startswith("mooring_outbox_backlog") and 'state="waiting"' in line
            ]
            waiting = backlog[0].rsplit(" ", 1)[-1] if backlog else "unknown"
            raise StoryError(
                f"no {event_type} for the {label} account within {EVENT_TIMEOUT_S:.0f} s "
                f"(outbox rows waiting to be relayed: {waiting})"
            ) from None

    async def until(self, what: str, probe: Any, timeout_s: float, every_s: float = 0.5) -> Any:
        """Poll `probe()` until it returns something truthy."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise StoryError(f"{what}: not seen within {timeout_s:.0f} s")
            await asyncio.sleep(every_s)

    # -- the story ----------------------------------------------------------------------------

    async def preflight(self) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            for name, url in [*self.ep.services.items(), ("platform-sim", self.ep.sim)]:
                path = "/_control/health" if name == "platform-sim" else "/health/ready"
                try:
                    answer = await client.get(url + path)
                except httpx.TransportError as exc:
                    raise NotRunningError(f"{name} does not answer at {url} ({exc!r})") from exc
                if answer.status_code != 200:
                    raise NotRunningError(f"{name} at {url} is not ready: {answer.text[:300]}")

    async def begin(self) -> None:
        async with self.step("Watch the events, set up a fresh workspace and tell who owns it"):
            await self.tail.start()
            prefix = self.tail.topic_prefix or "(no prefix)"
            self.say(f"watching every event topic and its .dlq under {prefix}; printing this")
            self.say(f"workspace's events as they arrive (workspace {self.ws})")
            body = {"user_id": str(uuid.uuid4()), "email": self.result.owner_email}
            url = self._internal(self.ep.notifier, "/owner")
            await self.call(self.internal, "PUT", url, 200, json=body)
            self.say(f"notifier: the owner is {self.result.owner_email}")
            self.tell_usage(await self.usage())

    async def connect_x_and_facebook(self) -> None:
        async with self.step(
            "Connect an X account (OAuth 2.0 with PKCE, a browser at the consent page)"
        ):
            await self.connect("x", "x", f"demo-x-{self.run_tag}")
        async with self.step("Connect a Facebook page (the page is picked after consent)"):
            await self.connect("facebook", "facebook", f"demo-fb-{self.run_tag}")

    async def refresh(self) -> None:
        async with self.step("Connect a YouTube channel: Google's tokens live an hour"):
            await self.connect("youtube", "youtube", f"demo-yt-{self.run_tag}")
        async with self.step(
            "Refresh: token-keeper's sweep (social:refresh-expiring-tokens) now", JOB_STEP_TIMEOUT_S
        ):
            before = (await self.account("youtube"))["token_expires_at"]
            self.say("an hour is inside the sweep's horizon, so the sweep finds it due at once")
            self.say(await self.run_job("token_keeper", "social:refresh-expiring-tokens"))
            await self.event("token.refreshed", "youtube")
            after = (await self.account("youtube"))["token_expires_at"]
            # Google answers every refresh with a token for another hour from now.
            self.say(f"youtube token expiry {_when(before)} -> {_when(after)} (an hour from now)")

    async def revoke_and_check(self) -> None:
        async with self.step(
            "At X, the owner revokes Mooring's access (the simulator's control API)"
        ):
            body = {"platform": "x", "user": f"demo-x-{self.run_tag}"}
            revoked = await self.call(self.sim, "POST", "/tokens/revoke", 200, json=body)
            self.say(f"X: {revoked.json()['revoked']} grant(s) revoked; Mooring does not know yet")
        async with self.step(
            "The daily check (social:check-connections), on demand like `make job`",
            JOB_STEP_TIMEOUT_S,
        ):
            begun = datetime.now(UTC)
            self.say(await self.run_job("health_checker", "social:check-connections"))
            url = f"{self.ep.health_checker}/internal/v1/check-runs/latest"
            latest = (await self.call(self.internal, "GET", url, 200)).json()
            # A tick resumes a run left open (its job stopped before it ended); that run was
            # planned before this demo's accounts existed, and may have nothing left to do.
            if datetime.fromisoformat(latest["started_at"]) < begun - _CLOCK_SLACK:
                planned = _when(latest["started_at"])
                self.say(f"that ended a run left open since {planned}; once more for a new run")
                self.say(await self.run_job("health_checker", "social:check-connections"))
            found = await self.event(
                "account.disconnected", "x", lambda e: e.payload.get("reason") == "revoked"
            )
            run_id = str(found.payload.get("check_run_id"))
            self.result.check_run_id = run_id
            url = f"{self.ep.health_checker}/internal/v1/check-runs/{run_id}"
            run = (await self.call(self.internal, "GET", url, 200)).json()
            counts = ", ".join(f"{k} {v}" for k, v in sorted(run.get("counts", {}).items()))
            self.say(
                f"check run {run_id[:8]}: {run['status']}, {run['checked']} checked ({counts})"
            )
            self.say(f"x is now {(await self.account('x'))['status']}")
        async with self.step("The owner is told: the in-app notification"):
            self.result.notification = await self.until(
                "the notification", self._failure_notification, EVENT_TIMEOUT_S
            )
            note = self.result.notification
            self.say(f"notifier feed: [{note['kind']}] {note['title']}")
            self.say(f"  {note['body']}")
            settle = self.ep.service_env.get("NOTIFIER_DIGEST_SETTLE_S", "60")
            self.say(f"the e-mail (one summary per check run) goes after {settle} s; see below")

    async def _failure_notification(self) -> dict[str, Any] | None:
        url = self._ws(self.ep.notifier, "/notifications")
        x = self.result.accounts["x"]
        for item in (await self.call(self.owner, "GET", url, 200)).json()["items"]:
            if (item["kind"], item["account_id"]) == ("account_disconnected", x):
                found: dict[str, Any] = item
                return found
        return None

    async def plan_cap(self) -> None:
        async with self.step("Fill the starter plan: LinkedIn and TikTok (5 accounts)"):
            await self.connect("linkedin", "linkedin", f"demo-li-{self.run_tag}")
            await self.connect("tiktok", "tiktok", f"demo-tt-{self.run_tag}")
            self.tell_usage(await self.usage())
        async with self.step(
            "A sixth account: the connector answers 402 with billing-gate's reason"
        ):
            refused = await self.start_connect("pinterest")
            if refused.status_code != 402:
                raise StoryError(f"the sixth connect answered {_problem(refused)}, not 402")
            problem: dict[str, Any] = refused.json()
            if problem.get("type") != PLAN_LIMIT:
                raise StoryError(f"the 402's type is {problem.get('type')!r}")
            self.result.refused = problem
            self.say(f"402 {problem['type']}")
            self.say(f"  {problem['detail']}")
            self.say(
                f"  plan {problem['plan']}, limit {problem['limit']}, used {problem['used']}, "
                f"reserved {problem['reserved']}, upgrade_to {problem['upgrade_to']}"
            )
        async with self.step("Change the plan (billing-gate's internal plan route)"):
            plan = str(self.result.refused["upgrade_to"])
            url = self._internal(self.ep.billing_gate, "/plan")
            changed = (await self.call(self.internal, "PUT", url, 200, json={"plan": plan})).json()
            self.result.plan = changed
            self.say(f"PUT .../plan {{plan: {plan}}} -> applied {changed['applied']}")
            self.tell_usage(changed)
        async with self.step("Connect Pinterest again: now it fits"):
            await self.connect("pinterest", "pinterest", f"demo-pin-{self.run_tag}")
            self.tell_usage(await self.usage())

    async def email(self) -> None:
        settle = float(self.ep.service_env.get("NOTIFIER_DIGEST_SETTLE_S", "60"))
        async with self.step("The summary e-mail", timeout_s=settle + STEP_TIMEOUT_S):
            self.say(f"waiting for a message to {self.result.owner_email} in {self.ep.mail_dir}")
            path: Path = await self.until(
                "the e-mail", self._our_mail, settle + EVENT_TIMEOUT_S, every_s=1
            )
            self.result.email = path
            message = message_from_bytes(await asyncio.to_thread(path.read_bytes))
            subject = str(make_header(decode_header(message.get("Subject", ""))))
            self.say(f"{path.name}: to {message.get('To')}, subject {subject!r}")

    async def _our_mail(self) -> Path | None:
        def scan() -> Path | None:
            wanted = self.result.owner_email.encode()
            for path in sorted(self.ep.mail_dir.glob("*.eml")):
                head = path.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
                if wanted in head:
                    return path
            return None

        return await asyncio.to_thread(scan)

    async def disconnect(self) -> None:
        async with self.step("Disconnect the TikTok account"):
            account_id = self.result.accounts["tiktok"]
            used_before = int((await self.usage())["used"])
            url = self._ws(self.ep.connector, f"/accounts/{account_id}")
            await self.call(self.owner, "DELETE", url, 204)
            self.say("DELETE .../accounts/<tiktok> -> 204")
            await self.event(
                "account.disconnected", "tiktok", lambda e: e.payload.get("reason") == "removed"
            )

            async def freed() -> dict[str, Any] | None:
                usage = await self.usage()
                return usage if usage["used"] < used_before else None

            self.result.usage = await self.until("the freed slot", freed, EVENT_TIMEOUT_S)
            self.tell_usage(self.result.usage)

    async def finish(self) -> None:
        async with self.step("Where things stand"):
            url = self._ws(self.ep.connector, "/accounts")
            items = (await self.call(self.owner, "GET", url, 200)).json()["items"]
            by_id = {item["id"]: item for item in items}
            for label, account_id in self.result.accounts.items():
                status = by_id[account_id]["status"] if account_id in by_id else "removed"
                self.result.statuses[label] = status
                self.say(f"{label:<10} {status}")
            counts: dict[str, int] = {}
            for event in self.tail.seen:
                name = f"{event.type} (dead letter)" if event.dead_letter else event.type
                counts[name] = counts.get(name, 0) + 1
            self.say("events: " + ", ".join(f"{n} x{c}" for n, c in sorted(counts.items())))
            if self.tail.others:
                self.say(f"(and {self.tail.others} events of other workspaces, not shown)")
            if any(event.dead_letter for event in self.tail.seen):
                raise StoryError("an event of the demo's workspace was dead-lettered")


async def run_demo(endpoints: Endpoints, out: TextIO = sys.stdout) -> DemoResult:
    """Tell the story against the running system; what happened, or `DemoFailedError`."""
    started = time.monotonic()
    workspace = uuid.uuid4()
    result = DemoResult(workspace, f"owner-{workspace.hex[:12]}@example.com")
    story = Story(endpoints, out, result)
    try:
        await story.preflight()
        await story.begin()
        await story.connect_x_and_facebook()
        await story.refresh()
        await story.revoke_and_check()
        await story.plan_cap()
        await story.email()
        await story.disconnect()
        await story.finish()
    finally:
        result.events = list(story.tail.seen)
        result.other_events = story.tail.others
        result.seconds = time.monotonic() - started
        await story.close()
    print(
        f"\nDone in {result.seconds:.0f} s: workspace {workspace}, "
        f"{len(result.events)} events of it seen, the 402, the plan change, the e-mail "
        f"{result.email.name if result.email else '-'}.",
        file=out,
        flush=True,
    )
    return result
