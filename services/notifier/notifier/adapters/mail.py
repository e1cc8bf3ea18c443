"""Sending e-mail: the port the delivery worker uses, and the SMTP implementation (aiosmtplib).

A `MailSender` opens a `MailConnection` per round of claimed deliveries; the connection sends
them one after another over one SMTP session and reports each attempt as an `Attempt` (never
raises for a refusal or an outage): the domain decides what an attempt means for the delivery.
A mail travels as `OutgoingMail`: the envelope and the message already serialised (by the
renderer, once), so nothing is parsed or flattened again on the way out.
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import aiosmtplib
from pydantic import SecretStr

from mooring.logs import redact
from notifier.domain.deliveries import Attempt, Stage

__all__ = ["MailConnection", "MailSender", "OutgoingMail", "SmtpSender", "SmtpSettings"]

logger = logging.getLogger(__name__)

_MAX_ERROR = 500
_SESSION_CODES = frozenset({530, 534, 535, 538})


@dataclass(frozen=True)
class OutgoingMail:
    """One message ready for SMTP: envelope sender and recipient, and the RFC 5322 bytes."""

    sender: str
    recipient: str
    data: bytes


class MailConnection(abc.ABC):
    @abc.abstractmethod
    async def send(self, mail: OutgoingMail) -> Attempt:
        """Hand `mail` to the server; what came of it."""

    @property
    @abc.abstractmethod
    def broken(self) -> bool:
        """True once the server could not be reached or dropped us: stop sending this round."""


class MailSender(abc.ABC):
    @abc.abstractmethod
    def connect(self) -> contextlib.AbstractAsyncContextManager[MailConnection]:
        """A session for one round of sends (connected on first use, closed at exit)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    username: str
    password: SecretStr
    timeout_s: float
    validate_certs: bool


def _error(exc: BaseException) -> str:
    # Replies can echo what we sent (addresses) but never hold our password: aiosmtplib sends
    # it base64-encoded and does not put it in exceptions. Redacted all the same.
    return redact(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR]


def classify(exc: BaseException) -> Attempt:
    """An aiosmtplib failure as an attempt: where it failed and with which reply code."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        code = min((r.code for r in exc.recipients), default=None)
        return Attempt(accepted=False, stage="message", code=code, error=_error(exc))
    if isinstance(exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError):
        # 530/534/535/538 at MAIL FROM mean "authenticate (or STARTTLS) first": the relay
        # refuses the session, whatever the message.
        stage: Stage = "session" if exc.code in _SESSION_CODES else "message"
        return Attempt(accepted=False, stage=stage, code=exc.code, error=_error(exc))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # Greeting, EHLO, STARTTLS or AUTH refused: the relay refuses *us*, not this message.
        return Attempt(accepted=False, stage="session", code=exc.code, error=_error(exc))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Attempt(accepted=False, stage="session", error=_error(exc))
    return Attempt(accepted=False, stage="connect", error=_error(exc))


class _SmtpConnection(MailConnection):
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self._broken = False

    @property
    def broken(self) -> bool:
        return self._broken

    async def _open(self) -> aiosmtplib.SMTP:
        s = self._settings
        password = s.password.get_secret_value()
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            validate_certs=s.validate_certs,
            timeout=s.timeout_s,
            username=s.username or None,
            password=password or None,
        )
        await client.connect()
        return client

    async def send(self, mail: OutgoingMail) -> Attempt:
        if self._broken:
            return Attempt(accepted=False, stage="connect", error="connection lost this round")
        try:
            if self._client is None:
                self._client = await self._open()
            await self._client.sendmail(mail.sender, [mail.recipient], mail.data)
        except ValueError as exc:  # an address or header the message cannot carry
            return Attempt(accepted=False, stage="local", error=_error(exc))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            attempt = classify(exc)
            if attempt.stage != "message":
                self._broken = True
            return attempt
        return Attempt(accepted=True)

    async def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await self._client.quit()
            self._client.close()


class SmtpSender(MailSender):
    """aiosmtplib over one session per round: STARTTLS or TLS and credentials from settings."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[MailConnection]:
        connection = _SmtpConnection(self._settings)
        try:
            yield connection
        finally:
            await connection.close()
