"""The OAuth connect flows: start, callback, and the selection step.

start     the redirect URL is checked against the allow-list, the workspace's start window
          counted, billing-gate asked early (not for an explicit reconnect), then a session is
          stored with a single-use state and the platform's authorization URL handed back.
callback  the state is consumed first (single use), then judged (unknown / replayed / expired /
          another platform's); the code is exchanged, the profile read, and the account created
          or reconnected through `Admission`. Selection platforms store the candidates (tokens
          sealed) and send the user to pick. Every outcome the caller can be told about is a
          landing URL on the redirect URL (`connected=`, `selection=` or `error=`); only an
          unknown state, which names no redirect URL, is an error of its own.
select    the chosen candidates are admitted all or none; the session is claimed first so two
          concurrent selections cannot both write.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from connector.domain.accounts import USER_ACCESS_TOKEN, AccountSpec, platform_account_id
from connector.domain.candidates import choose
from connector.domain.errors import (
    INACTIVE_ACCOUNT_REASONS,
    BillingUnavailableError,
    CallbackError,
    ConnectionExpiredError,
    ConnectionNotSelectableError,
    ConnectorError,
    InvalidConnectRequestError,
    MissingCodeError,
    NoCandidatesError,
    NotFoundError,
    PlanLimitError,
    PlatformDeclinedError,
    UnknownStateError,
    WrongAccountError,
)
from connector.domain.ratelimit import StartWindow
from connector.domain.redirects import RedirectPolicy, landing_url
from connector.domain.sessions import (
    ConnectSession,
    NewSession,
    PendingCandidate,
    SessionSecrets,
    judge_callback,
    new_state,
    state_digest,
)
from connector.service_layer.admission import Admission, Admitted
from connector.service_layer.gateways import BillingGateway, PlatformGateway
from connector.service_layer.limits import count_start
from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork
from mooring.billing import BillingUnavailable, PlanLimitReached
from mooring.platforms import PlatformError, get_description
from mooring.platforms.descriptions import AccountType, AuthMethod
from mooring.platforms.results import Candidate, TokenSet

__all__ = ["ConnectFlows", "ConnectionView", "Landing", "StartRequest", "Started", "error_code"]

logger = logging.getLogger(__name__)

# Platforms whose page/organisation/channel tokens come with a user token worth keeping (sealed):
# a Facebook page token is derived from it, and a reconnect or a new page needs it again.
_KEEPS_USER_TOKEN = frozenset({"facebook", "instagram-facebook"})


@dataclass(frozen=True)
class StartRequest:
    workspace_id: uuid.UUID
    user_id: str
    platform: str
    redirect_url: str
    instance_url: str | None = None
    reconnect_account_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Started:
    connection_id: uuid.UUID
    authorization_url: str
    state: str
    expires_at: datetime


@dataclass(frozen=True)
class Landing:
    """Where the callback sends the browser, and what happened (for logs and metrics)."""

    url: str
    outcome: str  # connected | selection | an error code


@dataclass(frozen=True)
class ConnectionView:
    session: ConnectSession
    connected_ids: frozenset[str]  # candidates the workspace already has (a reconnect)


_CODES: tuple[tuple[type[Exception], str], ...] = (
    (PlanLimitError, "plan_limit_reached"),
    (BillingUnavailableError, "billing_unavailable"),
    (WrongAccountError, "wrong_account"),
    (NotFoundError, "account_not_found"),
)
_PLATFORM_CODES = {
    "revoked": "token_exchange_failed",
    "transient": "platform_unavailable",
    "policy": "platform_refused",
}


def error_code(error: Exception) -> str:
    """The `?error=` a failed callback carries: stable codes, never a message."""
    if isinstance(error, CallbackError):
        return error.code
    if isinstance(error, PlatformError):
        if error.classification.reason in INACTIVE_ACCOUNT_REASONS:
            return "account_inactive"
        return _PLATFORM_CODES.get(error.outcome.value, "platform_refused")
    return next((code for kind, code in _CODES if isinstance(error, kind)), "connect_failed")


@dataclass(frozen=True, kw_only=True)
class ConnectFlows:
    uow: Callable[[], AbstractConnectorUnitOfWork]
    platforms: PlatformGateway
    billing: BillingGateway
    admission: Admission
    redirects: RedirectPolicy
    public_url: str
    state_ttl: timedelta = timedelta(minutes=15)
    start_window: StartWindow

    def callback_url(self, platform: str) -> str:
        """The redirect URI the platform sees: this service's public callback route."""
        return f"{self.public_url}/v1/oauth/{platform}/callback"

    # -- start --------------------------------------------------------------------------------

    async def start(self, request: StartRequest) -> Started:
        """Checks first, then one statement counts the start and stores the session.

        Mastodon's start talks to the instance (app registration), so its start is counted
        before that, in a transaction of its own: a flood of starts is refused before it
        reaches anyone's instance. The others build their URL locally and count at the end.
        """
        description = get_description(request.platform)
        self._check_fields(request)
        redirect_url = self.redirects.check(request.redirect_url)
        reaches_out = description.auth_method is AuthMethod.PER_INSTANCE_OAUTH2
        if reaches_out:
            await count_start(self.uow, self.start_window, request.workspace_id)
        if request.reconnect_account_id is not None:
            await self._check_reconnect(request)
        else:
            await self._early_check(request.workspace_id)
        state = new_state()
        authorization = await self.platforms.oauth(request.platform).start_authorization(
            redirect_uri=self.callback_url(request.platform),
            state=state,
            instance_url=request.instance_url,
        )
        new = NewSession(
            id=uuid.uuid4(),
            state_digest=state_digest(state),
            workspace_id=request.workspace_id,
            user_id=request.user_id,
            platform=description.identifier,
            redirect_url=redirect_url,
            reconnect_account_id=request.reconnect_account_id,
            service_url=authorization.service_url,
            secrets=SessionSecrets(code_verifier=authorization.code_verifier),
        )
        async with self.uow() as uow:
            if reaches_out:
                session = await uow.sessions.add(new, self.state_ttl)
            else:
                window = self.start_window
                counted = await uow.sessions.count_and_add(
                    new,
                    self.state_ttl,
                    window=timedelta(seconds=window.window_s),
                    limit=window.limit,
                )
                if counted.session is None:
                    await uow.commit()  # a refused start counts too
                    raise window.refusal(counted.count)
                session = counted.session
            await uow.commit()
        return Started(session.id, authorization.url, state, session.expires_at)

    @staticmethod
    def _check_fields(request: StartRequest) -> None:
        if request.platform == "bluesky":
            raise InvalidConnectRequestError(
                "app-password-platform",
                "Bluesky connects with a handle and an app password: "
                "POST /v1/workspaces/{workspace_id}/accounts/bluesky",
            )
        if request.platform == "mastodon" and not request.instance_url:
            raise InvalidConnectRequestError(
                "instance-required", "Mastodon needs instance_url (e.g. https://mastodon.social)"
            )
        if request.platform != "mastodon" and request.instance_url:
            raise InvalidConnectRequestError(
                "instance-not-applicable", "instance_url is only for mastodon"
            )

    async def _check_reconnect(self, request: StartRequest) -> None:
        assert request.reconnect_account_id is not None  # noqa: S101 - the caller checked
        async with self.uow() as uow:
            account = await uow.accounts.get(request.reconnect_account_id)
        if account is None or account.workspace_id != request.workspace_id:
            raise NotFoundError("account")
        if account.platform != request.platform:
            raise InvalidConnectRequestError(
                "reconnect-platform-mismatch",
                f"account {account.id} is a {account.platform} account, not {request.platform}",
            )

    async def _early_check(
        self, workspace_id: uuid.UUID, platform: str | None = None, identity: str | None = None
    ) -> None:
        """The gate's early answer: 402 at the cap (not for a known identity), 503 unanswered."""
        answer = await self.billing.check(workspace_id, platform, identity)
        if isinstance(answer, PlanLimitReached):
            raise PlanLimitError(answer.problem)
        if isinstance(answer, BillingUnavailable):
            raise BillingUnavailableError(answer.retry_after_s)

    # -- callback -----------------------------------------------------------------------------

    async def callback(
        self,
        platform: str,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
    ) -> Landing:
        """Raises `UnknownStateError` only; every other outcome is a landing URL."""
        if not state:
            raise UnknownStateError
        async with self.uow() as uow:
            lookup = await uow.sessions.consume(state_digest(state))
            await uow.commit()
        try:
            session = judge_callback(lookup, platform)
        except UnknownStateError:
            raise
        except CallbackError as refused:
            assert lookup.session is not None  # noqa: S101 - judged: only unknown has none
            if lookup.consumed_now:  # expired or another platform's: this call ends it
                await self._save(lookup.session.failed(refused.code))
            return self._failed(lookup.session, refused)
        try:
            return await self._complete(session, code=code, error=error)
        except (ConnectorError, PlatformError) as failure:
            await self._save(session.failed(error_code(failure)))
            return self._failed(session, failure)

    async def _complete(
        self, session: ConnectSession, *, code: str | None, error: str | None
    ) -> Landing:
        if error:
            raise PlatformDeclinedError(error)
        if not code:
            raise MissingCodeError
        adapter = self.platforms.oauth(session.platform)
        tokens = await adapter.exchange_code(
            code=code,
            redirect_uri=self.callback_url(session.platform),
            code_verifier=session.secrets.code_verifier,
            service_url=session.service_url,
        )
        if get_description(session.platform).needs_selection:
            candidates = await adapter.list_candidates(tokens)
            return await self._offer(session, tokens, candidates)
        profile = await adapter.fetch_profile(tokens)
        description = get_description(session.platform)
        spec = AccountSpec(
            platform=session.platform,
            platform_account_id=platform_account_id(
                session.platform, profile.platform_account_id, tokens.service_url
            ),
            account_type=description.account_types[0].value,
            profile=profile,
            tokens=tokens,
        )
        admitted = await self.admission.admit(
            session.workspace_id, [spec], reconnect_account_id=session.reconnect_account_id
        )
        return await self._connected(session, admitted)

    async def _offer(
        self, session: ConnectSession, tokens: TokenSet, candidates: Sequence[Candidate]
    ) -> Landing:
        if not candidates:
            raise NoCandidatesError(session.platform)
        if session.reconnect_account_id is not None:
            # An explicit reconnect of one page/organisation/channel: no choice to make, but the
            # grant must still cover that very account.
            async with self.uow() as uow:
                account = await uow.accounts.get(session.reconnect_account_id)
            if account is None or account.workspace_id != session.workspace_id:
                raise NotFoundError("account")
            match = next((c for c in candidates if c.id == account.platform_account_id), None)
            if match is None:
                raise WrongAccountError(account.id)
            spec = _candidate_spec(session.platform, match, tokens)
            admitted = await self.admission.admit(
                session.workspace_id, [spec], reconnect_account_id=account.id
            )
            return await self._connected(session, admitted)
        secrets = SessionSecrets(
            user_tokens=tokens,
            candidate_tokens={c.id: c.tokens for c in candidates if c.tokens is not None},
        )
        offered = tuple(PendingCandidate.of(c) for c in candidates)
        await self._save(session.selecting(offered, secrets))
        landing = landing_url(
            session.redirect_url, {"selection": str(session.id), "platform": session.platform}
        )
        return Landing(landing, "selection")

    async def _connected(self, session: ConnectSession, admitted: list[Admitted]) -> Landing:
        ids = tuple(a.account.id for a in admitted)
        await self._save(session.completed(ids))
        params = {"connected": session.platform, "account_id": str(ids[0])}
        if not admitted[0].created:
            params["reconnected"] = "true"
        return Landing(landing_url(session.redirect_url, params), "connected")

    def _failed(self, session: ConnectSession, failure: Exception) -> Landing:
        code = error_code(failure)
        _log_failure(session, failure, code)
        # Codes only: a platform's own description goes to the logs, not into a URL.
        params = {"error": code, "platform": session.platform}
        return Landing(landing_url(session.redirect_url, params), code)

    async def _save(self, session: ConnectSession) -> None:
        async with self.uow() as uow:
            await uow.sessions.save(session)
            await uow.commit()

    # -- the selection step -------------------------------------------------------------------

    async def connection(self, workspace_id: uuid.UUID, session_id: uuid.UUID) -> ConnectionView:
        async with self.uow() as uow:
            session = await uow.sessions.get(session_id, workspace_id)
            if session is None:
                raise NotFoundError("connection")
            connected: frozenset[str] = frozenset()
            if session.view_status == "selecting" and session.candidates:
                have = await uow.accounts.list_for_workspace(
                    workspace_id, platform=session.platform
                )
                offered = {c.id for c in session.candidates}
                connected = frozenset(a.platform_account_id for a in have) & offered
        return ConnectionView(session, connected)

    async def select(
        self, workspace_id: uuid.UUID, session_id: uuid.UUID, candidate_ids: Sequence[str]
    ) -> list[Admitted]:
        """Admit the chosen candidates, all or none (402 when they do not all fit)."""
        async with self.uow() as uow:
            session = await uow.sessions.claim_selection(session_id, workspace_id)
            await uow.commit()
        if session is None:
            raise await self._why_not_selectable(workspace_id, session_id)
        try:
            specs = _chosen_specs(session, candidate_ids)
            admitted = await self.admission.admit(workspace_id, specs)
        except BaseException:
            # Back to `selecting`: the user may pick fewer, or try again once billing answers.
            await self._save(session.selecting(session.candidates, session.secrets))
            raise
        await self._save(session.completed(tuple(a.account.id for a in admitted)))
        return admitted

    async def _why_not_selectable(
        self, workspace_id: uuid.UUID, session_id: uuid.UUID
    ) -> ConnectorError:
        async with self.uow() as uow:
            session = await uow.sessions.get(session_id, workspace_id)
        if session is None:
            return NotFoundError("connection")
        if session.view_status == "expired":
            return ConnectionExpiredError()
        return ConnectionNotSelectableError(session.status)


def _chosen_specs(session: ConnectSession, candidate_ids: Sequence[str]) -> list[AccountSpec]:
    chosen = choose(session.candidates, candidate_ids)
    user_tokens = session.secrets.user_tokens
    if user_tokens is None:  # only a session whose secrets were wiped: it has expired
        raise ConnectionExpiredError
    return [
        _candidate_spec(
            session.platform,
            _as_candidate(c),
            user_tokens,
            session.secrets.candidate_tokens.get(c.id),
        )
        for c in chosen
    ]


def _as_candidate(pending: PendingCandidate) -> Candidate:
    return Candidate(
        id=pending.id,
        account_type=AccountType(pending.account_type),
        name=pending.name,
        username=pending.username,
        avatar_url=pending.avatar_url,
        parent_id=pending.parent_id,
    )


def _candidate_spec(
    platform: str,
    candidate: Candidate,
    user_tokens: TokenSet,
    own_tokens: TokenSet | None = None,
) -> AccountSpec:
    """A page/organisation/channel account: its own token where it has one (Facebook pages,
    Instagram via the page), else the user's (LinkedIn organisations, YouTube channels)."""
    tokens = own_tokens or candidate.tokens or user_tokens
    extra: dict[str, SecretStr] = {}
    if platform in _KEEPS_USER_TOKEN:
        extra[USER_ACCESS_TOKEN] = user_tokens.access_token
    meta = {"parent_id": candidate.parent_id} if candidate.parent_id else {}
    return AccountSpec(
        platform=platform,
        platform_account_id=candidate.id,
        account_type=candidate.account_type.value,
        profile=candidate.profile(),
        tokens=tokens,
        extra=extra,
        meta=meta,
    )


def _log_failure(session: ConnectSession, failure: Exception, code: str) -> None:
    extra = {
        "connection_id": str(session.id),
        "workspace_id": str(session.workspace_id),
        "platform": session.platform,
        "error_code": code,
    }
    if isinstance(failure, PlatformError):
        extra |= {
            "outcome": failure.outcome.value,
            "reason": failure.classification.reason,
            "detail": failure.classification.detail,
        }
    logger.warning("connect callback failed", extra=extra)
