"""In-memory stand-ins for the connector's ports: the use cases tested without PostgreSQL, a
platform or a billing-gate.

`FakeSessionRepository` implements the same port as `SessionRepository`, with a clock the test
moves (`now`) standing in for the database's. `FakeConnectorUnitOfWork` adds it to the kernel's
`FakeUnitOfWork` (a transaction's session writes are undone on rollback). `FakeBilling` answers
like billing-gate (cap, known identities, reservations) and can be made unreachable;
`FakePlatforms` hands out adapters whose code exchange turns a code into the user it names.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from connector.adapters.port import AbstractSessionRepository, StartCount, Started
from connector.domain.sessions import ConnectSession, NewSession, StateLookup
from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork
from mooring.accounts import Account
from mooring.billing import (
    Allowed,
    BillingUnavailable,
    PlanLimitReached,
    Released,
    ReservationStatus,
)
from mooring.platforms import PlatformError, get_description
from mooring.platforms.descriptions import AccountType
from mooring.platforms.results import AuthorizationRequest, Candidate, Profile, TokenSet
from mooring.uow import FakeAccountRepository, FakeUnitOfWork

__all__ = [
    "FakeBilling",
    "FakeBluesky",
    "FakeConnectorUnitOfWork",
    "FakeOAuthAdapter",
    "FakePlatforms",
    "FakeSessionRepository",
]


class FakeSessionRepository(AbstractSessionRepository):
    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.rows: dict[uuid.UUID, ConnectSession] = {}
        self.digests: dict[bytes, uuid.UUID] = {}
        self.windows: dict[uuid.UUID, tuple[datetime, int]] = {}

    def state(self) -> Any:
        return copy.deepcopy((self.rows, self.digests, self.windows))

    def restore(self, state: Any) -> None:
        self.rows, self.digests, self.windows = state

    def _read(self, session: ConnectSession) -> ConnectSession:
        return replace(session, read_at=self.now)

    async def count_start(self, workspace_id: uuid.UUID, window: timedelta) -> StartCount:
        started, count = self.windows.get(workspace_id, (self.now, 0))
        if started <= self.now - window:
            started, count = self.now, 0
        self.windows[workspace_id] = (started, count + 1)
        return StartCount(count + 1, started, self.now)

    async def add(self, new: NewSession, ttl: timedelta) -> ConnectSession:
        session = ConnectSession(
            id=new.id,
            workspace_id=new.workspace_id,
            user_id=new.user_id,
            platform=new.platform,
            redirect_url=new.redirect_url,
            status="pending",
            created_at=self.now,
            expires_at=self.now + ttl,
            read_at=self.now,
            reconnect_account_id=new.reconnect_account_id,
            service_url=new.service_url,
            secrets=new.secrets,
        )
        self.rows[new.id] = session
        self.digests[new.state_digest] = new.id
        return session

    async def count_and_add(
        self, new: NewSession, ttl: timedelta, *, window: timedelta, limit: int
    ) -> Started:
        count = await self.count_start(new.workspace_id, window)
        if count.count > limit:
            return Started(count, None)
        return Started(count, await self.add(new, ttl))

    async def consume(self, state_digest: bytes) -> StateLookup:
        session_id = self.digests.get(state_digest)
        if session_id is None:
            return StateLookup(None, consumed_now=False)
        session = self.rows[session_id]
        if session.consumed_at is not None:
            return StateLookup(self._read(session), consumed_now=False)
        self.rows[session_id] = session = replace(session, consumed_at=self.now)
        return StateLookup(self._read(session), consumed_now=True)

    async def get(self, session_id: uuid.UUID, workspace_id: uuid.UUID) -> ConnectSession | None:
        session = self.rows.get(session_id)
        if session is None or session.workspace_id != workspace_id:
            return None
        return self._read(session)

    async def claim_selection(
        self, session_id: uuid.UUID, workspace_id: uuid.UUID
    ) -> ConnectSession | None:
        session = await self.get(session_id, workspace_id)
        if session is None or session.status != "selecting" or session.expired:
            return None
        self.rows[session_id] = claimed = replace(session, status="completing")
        return claimed

    async def save(self, session: ConnectSession) -> None:
        self.rows[session.id] = session

    async def purge(self, retention: timedelta) -> tuple[int, int]:
        wiped = deleted = 0
        for session_id, session in list(self.rows.items()):
            if session.expires_at < self.now - retention:
                del self.rows[session_id]
                deleted += 1
            elif session.expires_at < self.now and not session.secrets.empty:
                self.rows[session_id] = session.failed(session.error or "expired")
                wiped += 1
        return wiped, deleted


class FakeConnectorUnitOfWork(FakeUnitOfWork, AbstractConnectorUnitOfWork):
    """One object for a whole test; `accounts` are rows the shared table already holds."""

    sessions: FakeSessionRepository

    def __init__(self, accounts: list[Account] | None = None) -> None:
        super().__init__(accounts or [], source="connector-test")
        self.sessions = FakeSessionRepository()
        self._saved: Any = None

    async def _begin(self) -> None:
        await super()._begin()
        self._saved = self.sessions.state()

    async def _rollback(self) -> None:
        await super()._rollback()
        if self._saved is not None:
            self.sessions.restore(self._saved)
            self._saved = None

    async def _commit(self) -> None:
        await super()._commit()
        self._saved = self.sessions.state()


@dataclass
class FakeBilling:
    """Billing-gate's answers: `limit` accounts per workspace, known identities never refused,
    open reservations counted; `down=True` makes every call unanswered."""

    accounts: FakeAccountRepository
    limit: int = 5
    down: bool = False
    reservations: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _usage(self, workspace_id: uuid.UUID) -> tuple[int, int]:
        used = sum(1 for a in self.accounts.rows.values() if a.workspace_id == workspace_id)
        reserved = sum(
            1
            for r in self.reservations.values()
            if r["workspace_id"] == workspace_id and r["status"] == "pending"
        )
        return used, reserved

    def _known(self, workspace_id: uuid.UUID, platform: str | None, pid: str | None) -> bool:
        return any(
            (a.workspace_id, a.platform, a.platform_account_id) == (workspace_id, platform, pid)
            for a in self.accounts.rows.values()
        )

    def _refused(self, used: int, reserved: int) -> PlanLimitReached:
        problem = {"type": "urn:mooring:problem:plan-limit-reached", "plan": "starter",
                   "limit": self.limit, "used": used, "reserved": reserved, "upgrade_to": "plus",
                   "detail": f"The starter plan allows {self.limit} connected accounts."}  # fmt: skip
        return PlanLimitReached("starter", self.limit, used, reserved, "plus", problem)

    async def check(
        self,
        workspace_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
    ) -> Allowed | PlanLimitReached | BillingUnavailable:
        self.calls.append("check")
        if self.down:
            return BillingUnavailable("unreachable", 5)
        used, reserved = self._usage(workspace_id)
        if self._known(workspace_id, platform, platform_account_id):
            return Allowed("known_identity", "starter", self.limit, used, reserved)
        if used + reserved >= self.limit:
            return self._refused(used, reserved)
        return Allowed("within_limit", "starter", self.limit, used, reserved)

    async def reserve(
        self,
        workspace_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
        *,
        reservation_id: uuid.UUID | None = None,
        ttl_s: int | None = None,  # noqa: ARG002 - the fake never expires reservations
    ) -> Allowed | PlanLimitReached | BillingUnavailable:
        self.calls.append("reserve")
        rid = reservation_id or uuid.uuid4()
        if self.down:
            return BillingUnavailable("unreachable", 5, reservation_id=rid)
        answer = await self.check(workspace_id, platform, platform_account_id)
        self.calls.pop()
        if not isinstance(answer, Allowed) or answer.reason != "within_limit":
            return answer
        self.reservations[rid] = {"workspace_id": workspace_id, "status": "pending",
                                  "identity": (platform, platform_account_id)}  # fmt: skip
        return replace(answer, reservation_id=rid, reserved=answer.reserved + 1)

    async def confirm(
        self,
        workspace_id: uuid.UUID,  # noqa: ARG002
        reservation_id: uuid.UUID,
        *,
        account_id: uuid.UUID,
        platform: str | None = None,  # noqa: ARG002
        platform_account_id: str | None = None,  # noqa: ARG002
    ) -> ReservationStatus | BillingUnavailable:
        self.calls.append("confirm")
        if self.down:
            return BillingUnavailable("unreachable", 5)
        self.reservations[reservation_id]["status"] = "confirmed"
        self.reservations[reservation_id]["account_id"] = account_id
        return ReservationStatus(reservation_id, "confirmed", account_id, datetime.now(UTC))

    async def release(
        self,
        workspace_id: uuid.UUID,  # noqa: ARG002
        reservation_id: uuid.UUID,
    ) -> Released | BillingUnavailable:
        self.calls.append("release")
        if self.down:
            return BillingUnavailable("unreachable", 5)
        if reservation_id in self.reservations:
            self.reservations[reservation_id]["status"] = "released"
        return Released(reservation_id)

    def pending(self) -> int:
        return sum(1 for r in self.reservations.values() if r["status"] == "pending")


def _tokens(value: str, *, expires_in: int | None = 3600) -> TokenSet:
    now = datetime.now(UTC)
    return TokenSet(
        access_token=SecretStr(f"access-{value}"),
        refresh_token=SecretStr(f"refresh-{value}"),
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
    )


@dataclass
class FakeOAuthAdapter:
    """A platform whose authorize URL is `https://fake/<platform>?state=...`, whose codes name
    the user who signed in, and whose candidates are `candidates[user]`."""

    platform: str
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    fail_exchange: PlatformError | None = None
    exchanged: list[str] = field(default_factory=list)

    @property
    def description(self) -> Any:
        return get_description(self.platform)

    async def start_authorization(
        self, *, redirect_uri: str, state: str, instance_url: str | None = None
    ) -> AuthorizationRequest:
        verifier = SecretStr("verifier-" + state[:8]) if self.description.pkce else None
        return AuthorizationRequest(
            url=f"https://fake/{self.platform}?state={state}&redirect_uri={redirect_uri}",
            state=state,
            code_verifier=verifier,
            service_url=instance_url,
        )

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,  # noqa: ARG002
        code_verifier: SecretStr | None = None,  # noqa: ARG002
        service_url: str | None = None,
    ) -> TokenSet:
        if self.fail_exchange is not None:
            raise self.fail_exchange
        self.exchanged.append(code)
        return _tokens(f"{self.platform}-{code}").replace(service_url=service_url)

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        user = tokens.access_token.get_secret_value().rsplit("-", 1)[-1]
        return Profile(platform_account_id=f"id-{user}", username=user, display_name=user.title())

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:
        user = tokens.access_token.get_secret_value().rsplit("-", 1)[-1]
        return tuple(self.candidates.get(user, ()))

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        return tokens

    async def verify(self, tokens: TokenSet) -> Any:  # noqa: ARG002
        return None


def page(candidate_id: str, *, with_token: bool = True) -> Candidate:
    """A Facebook-page-like candidate, optionally with its own token."""
    return Candidate(
        id=candidate_id,
        account_type=AccountType.PAGE,
        name=f"Page {candidate_id}",
        tokens=_tokens(f"page-{candidate_id}", expires_in=None) if with_token else None,
    )


@dataclass
class FakeBluesky:
    """Handles resolve to `did:plc:<handle>`; `password` is the one app password accepted."""

    password: str = "abcd-efgh-ijkl-mnop"  # noqa: S105 - a test value
    logins: list[str] = field(default_factory=list)

    async def resolve(self, handle: str) -> tuple[str, str]:
        return f"did:plc:{handle.split('.', maxsplit=1)[0]}", "https://pds.fake"

    async def login(
        self, *, handle: str, app_password: SecretStr, resolved: tuple[str, str] | None = None
    ) -> TokenSet:
        from mooring.platforms import RevokedError  # noqa: PLC0415 - only the failure needs it
        from mooring.platforms.outcomes import Classification  # noqa: PLC0415

        self.logins.append(handle)
        if app_password.get_secret_value() != self.password:
            raise RevokedError(
                "bluesky",
                Classification.revoked(
                    "AuthenticationRequired",
                    detail="AuthenticationRequired: Invalid identifier or password",
                ),
            )
        did, pds = resolved or await self.resolve(handle)
        return _tokens(f"bluesky-{did}").replace(service_url=pds)

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        did = tokens.access_token.get_secret_value().split("bluesky-", 1)[1]
        return Profile(platform_account_id=did, username=did.rsplit(":", 1)[1] + ".bsky.social")


@dataclass
class FakePlatforms:
    adapters: dict[str, FakeOAuthAdapter] = field(default_factory=dict)
    bluesky_fake: FakeBluesky = field(default_factory=FakeBluesky)

    def oauth(self, platform: str) -> FakeOAuthAdapter:
        return self.adapters.setdefault(platform, FakeOAuthAdapter(platform))

    def bluesky(self) -> FakeBluesky:
        return self.bluesky_fake
