"""The SMTP sender (aiosmtplib) against a real SMTP server (aiosmtpd) on loopback: what each
server answer becomes, STARTTLS and TLS with a self-signed certificate, and credentials."""

import datetime as dt
import ipaddress
import socket
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from notifier.adapters.mail import OutgoingMail, SmtpSender, SmtpSettings

PASSWORD = "s3cret-smtp-password-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Handler:
    def __init__(self, rcpt: str = "250 OK", data: str = "250 Accepted") -> None:
        self.rcpt, self.data = rcpt, data
        self.received: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.rcpt.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data.startswith("250"):
            self.received.append(envelope.content)
        return self.data


def message() -> OutgoingMail:
    m = EmailMessage()
    m["From"] = "n@mooring.test"
    m["To"] = "owner@example.com"
    m["Subject"] = f"test {uuid.uuid4()}"
    m.set_content("hello")
    return OutgoingMail("n@mooring.test", "owner@example.com", m.as_bytes())


def settings(port: int, **overrides) -> SmtpSettings:
    values = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "",
        "password": SecretStr(""),
        "timeout_s": 3.0,
        "validate_certs": True,
    }
    return SmtpSettings(**(values | overrides))


@pytest.fixture
def server():
    started = []

    def start(handler=None, **kwargs):
        port = free_port()
        handler = handler or Handler()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port, handler

    yield start
    for controller in started:
        controller.stop()


async def send(smtp_settings: SmtpSettings, count: int = 1):
    async with SmtpSender(smtp_settings).connect() as connection:
        attempts = [await connection.send(message()) for _ in range(count)]
        broken = connection.broken
    return attempts, broken


async def test_an_accepted_message_arrives_whole(server):
    port, handler = server()
    msg = message()
    async with SmtpSender(settings(port)).connect() as connection:
        attempt = await connection.send(msg)
        second = await connection.send(message())  # the same session carries on
    assert attempt.accepted
    assert second.accepted
    assert len(handler.received) == 2
    assert msg.data.split(b"\n")[2] in handler.received[0]  # the Subject line


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (Handler(rcpt="550 5.1.1 No such user"), 550),
        (Handler(rcpt="451 4.3.0 Try again later"), 451),
        (Handler(data="554 5.6.0 Message refused"), 554),
    ],
)
async def test_a_refused_message_is_reported_with_its_code_and_the_session_goes_on(
    server, handler, code
):
    port, _ = server(handler)
    [first, second], broken = await send(settings(port), 2)
    assert (first.accepted, first.stage, first.code) == (False, "message", code)
    assert (second.stage, second.code) == ("message", code)  # RSET; the next one was tried
    assert not broken


async def test_no_server_is_a_connect_failure_that_stops_the_round():
    [attempt, second], broken = await send(settings(free_port()), 2)
    assert (attempt.accepted, attempt.stage, attempt.code) == (False, "connect", None)
    assert attempt.error
    assert broken
    assert second.stage == "connect"


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


async def test_starttls_is_used_when_the_server_requires_it(server, tmp_path):
    port, handler = server(tls_context=self_signed(tmp_path), require_starttls=True)
    [plain], _ = await send(settings(port))
    assert (plain.accepted, plain.stage, plain.code) == (False, "session", 530)
    [upgraded], _ = await send(settings(port, security="starttls", validate_certs=False))
    assert upgraded.accepted
    assert len(handler.received) == 1


async def test_implicit_tls_checks_the_certificate_unless_told_not_to(server, tmp_path):
    port, handler = server(ssl_context=self_signed(tmp_path))
    [checked], broken = await send(settings(port, security="tls"))
    assert (checked.accepted, checked.stage) == (False, "connect")  # self-signed: not trusted
    assert broken
    [trusted], _ = await send(settings(port, security="tls", validate_certs=False))
    assert trusted.accepted
    assert len(handler.received) == 1


async def test_credentials_go_over_starttls_and_a_refusal_never_shows_the_password(
    server, tmp_path
):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    port, handler = server(
        authenticator=authenticator, auth_required=True, tls_context=self_signed(tmp_path)
    )
    tls = {"security": "starttls", "validate_certs": False, "username": "mooring"}
    good = settings(port, password=SecretStr(PASSWORD), **tls)
    [accepted], _ = await send(good)
    assert accepted.accepted
    bad = settings(port, password=SecretStr(PASSWORD[::-1]), **tls)
    [refused], broken = await send(bad)
    assert (refused.accepted, refused.stage, refused.code) == (False, "session", 535)
    assert broken
    assert PASSWORD not in (refused.error or "")
    assert PASSWORD[::-1] not in (refused.error or "")
    assert len(handler.received) == 1
