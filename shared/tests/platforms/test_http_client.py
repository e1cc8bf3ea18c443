"""The per-process client: built from settings, one per process (never one per call), both
transports honour the SSRF guard's pinned connections, and the aiohttp transport's failures say
truthfully whether a request may have reached the server."""

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp.client_reqrep import ConnectionKey
from authlib.oauth2.client import OAuth2Client
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from mooring.platforms import (
    PlatformUnavailableError,
    TokenSet,
    UrlGuard,
    get_adapter,
    get_oauth_adapter,
    new_http_client,
    oauth,
)
from mooring.platforms.http import PlatformClient, PlatformHttp
from mooring.platforms.public_url import SafeTarget
from mooring.platforms.retry import RetryPolicy
from mooring.platforms.settings import HttpSettings
from mooring.platforms.signals import mastodon_signals
from mooring.platforms.simulator import simulator_settings
from mooring.platforms.testing import ManualClock, Recorder, form_of, json_response
from mooring.platforms.transport import AiohttpTransport, translate_error

TRANSPORTS = ["aiohttp", "httpx"]
SETTINGS = simulator_settings("http://sim.test", client_id="cid", client_secret="csecret")
REDIRECT = "https://app.example/callback"
REFRESHABLE = ["linkedin", "x", "tiktok", "youtube", "pinterest", "instagram", "threads"]


# The factory -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_client_takes_limits_timeouts_transport_and_retries_from_settings(transport):
    settings = HttpSettings(
        transport=transport,
        timeout_seconds=7,
        connect_timeout_seconds=2,
        pool_timeout_seconds=3,
        max_connections=11,
        max_keepalive_connections=5,
        keepalive_expiry_seconds=9,
        retry_attempts=4,
        retry_budget_seconds=6,
    )
    async with new_http_client(settings) as client:
        assert isinstance(client, PlatformClient)
        assert client.timeout == httpx.Timeout(7, connect=2, pool=3)
        assert client.follow_redirects is False
        assert client.retry_policy == RetryPolicy.from_settings(settings)
        assert (client.retry_policy.attempts, client.retry_policy.budget) == (4, 6)
        inner = client._transport
        if transport == "aiohttp":
            assert isinstance(inner, AiohttpTransport)
            assert inner.limits == httpx.Limits(
                max_connections=11, max_keepalive_connections=5, keepalive_expiry=9
            )
        else:
            assert isinstance(inner, httpx.AsyncHTTPTransport)
            pool = inner._pool
            assert (pool._max_connections, pool._max_keepalive_connections) == (11, 5)
            assert pool._keepalive_expiry == 9


def test_the_transport_is_a_setting(monkeypatch):
    monkeypatch.setenv("MOORING_PLATFORM_HTTP__TRANSPORT", "httpx")
    monkeypatch.setenv("MOORING_PLATFORM_HTTP__RETRY_ATTEMPTS", "5")
    from mooring.platforms import PlatformSettings

    settings = PlatformSettings()
    assert settings.http.transport == "httpx"
    assert settings.http.retry_attempts == 5
    assert HttpSettings().transport == "aiohttp"


# Never a client per call -------------------------------------------------------------------


def token_handler(request: httpx.Request) -> httpx.Response:
    return json_response(
        200,
        {"access_token": "at", "refresh_token": "rt", "expires_in": 3600, "scope": "a b"},
    )


@pytest.fixture
def constructions(monkeypatch) -> dict[str, int]:
    """Counts every httpx client and aiohttp session built from now on."""
    counts = {"httpx": 0, "aiohttp": 0}
    httpx_init, aiohttp_init = httpx.AsyncClient.__init__, aiohttp.ClientSession.__init__

    def count_httpx(self, *args, **kwargs):
        counts["httpx"] += 1
        httpx_init(self, *args, **kwargs)

    def count_aiohttp(self, *args, **kwargs):
        counts["aiohttp"] += 1
        aiohttp_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", count_httpx)
    monkeypatch.setattr(aiohttp.ClientSession, "__init__", count_aiohttp)
    return counts


async def test_no_adapter_step_builds_a_client_of_its_own(constructions):
    # Authlib's AsyncOAuth2Client is an httpx.AsyncClient: one per token call was a new pool and
    # SSL context each time, and the authorization URL's was never closed.
    recorder = Recorder(token_handler)
    clock = ManualClock()
    tokens = TokenSet(
        access_token=SecretStr("at"),
        refresh_token=SecretStr("rt"),
        issued_at=clock.now - dt.timedelta(days=2),
        expires_at=clock.now + dt.timedelta(days=30),
    )
    async with recorder.client() as client:
        for identifier in ["linkedin", "x", "youtube", "pinterest", "instagram", "threads"]:
            adapter = get_oauth_adapter(identifier, SETTINGS, client, clock=clock)
            request = await adapter.start_authorization(redirect_uri=REDIRECT, state="s")
            await adapter.exchange_code(
                code="c", redirect_uri=REDIRECT, code_verifier=request.code_verifier
            )
        for identifier in REFRESHABLE:
            await get_adapter(identifier, SETTINGS, client, clock=clock).refresh(tokens)
    assert constructions == {"httpx": 1, "aiohttp": 0}  # the injected client, and only it
    assert len(recorder.requests) == 6 + len(REFRESHABLE) + 2  # Meta's upgrade: one GET more


async def test_the_shared_aiohttp_client_keeps_one_session_for_all_calls(sim_url, constructions):
    settings = simulator_settings(sim_url)
    async with new_http_client(settings.http.model_copy(update={"transport": "aiohttp"})) as client:
        answer = await asyncio.to_thread(
            httpx.post,
            f"{sim_url}/_control/tokens/issue",
            json={"platform": "x", "user": "pool", "count": 5, "client_id": "mooring-dev"},
        )
        issued = answer.json()["tokens"]
        adapter = get_adapter("x", settings, client)

        async def chain(refresh: str) -> None:
            tokens = TokenSet(
                access_token=SecretStr("a"),
                refresh_token=SecretStr(refresh),
                issued_at=ManualClock().now,
            )
            for _ in range(10):
                tokens = await adapter.refresh(tokens)

        await asyncio.gather(*(chain(token["refresh_token"]) for token in issued))
    assert constructions == {"httpx": 1, "aiohttp": 1}


# The same requests Authlib's client sent -----------------------------------------------------


@pytest.mark.parametrize("verifier", [None, "v" * 64])
@pytest.mark.parametrize("extra", [{}, {"access_type": "offline", "prompt": "consent"}])
def test_authorization_urls_are_the_ones_authlibs_client_built(verifier, extra):
    app = oauth.OAuthApp("cid", SecretStr("csecret"))
    ours = oauth.authorization_url(
        app,
        "https://auth.example/authorize?x=1",
        redirect_uri=REDIRECT,
        state="st@te 1",
        scope="a b",
        code_verifier=SecretStr(verifier) if verifier else None,
        extra=extra,
    )
    authlib = OAuth2Client(
        None, client_id="cid", code_challenge_method="S256" if verifier else None
    )
    theirs, _ = authlib.create_authorization_url(
        "https://auth.example/authorize?x=1",
        state="st@te 1",
        code_verifier=verifier,
        redirect_uri=REDIRECT,
        scope="a b",
        **extra,
    )
    assert ours == theirs


async def test_client_secret_post_sends_the_client_in_the_form():
    recorder = Recorder(token_handler)
    async with recorder.client() as client:
        await get_oauth_adapter("linkedin", SETTINGS, client).exchange_code(
            code="the-code", redirect_uri=REDIRECT
        )
    request = recorder.requests[0]
    assert request.method == "POST"
    assert "authorization" not in request.headers
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded;charset=UTF-8"
    assert list(form_of(request).items()) == [
        ("grant_type", "authorization_code"),
        ("redirect_uri", REDIRECT),
        ("code", "the-code"),
        ("client_id", "cid"),
        ("client_secret", "csecret"),
    ]


async def test_client_secret_basic_refresh_sends_the_grant_and_extras_only_in_the_form():
    recorder = Recorder(token_handler)
    settings = SETTINGS.model_copy(
        update={"pinterest": SETTINGS.pinterest.model_copy(update={"continuous_refresh": True})}
    )
    tokens = TokenSet(
        access_token=SecretStr("a"), refresh_token=SecretStr("r1"), issued_at=ManualClock().now
    )
    async with recorder.client() as client:
        await get_adapter("pinterest", settings, client).refresh(tokens)
    request = recorder.requests[0]
    assert request.headers["authorization"] == httpx.BasicAuth("cid", "csecret")._auth_header
    assert list(form_of(request).items()) == [
        ("grant_type", "refresh_token"),
        ("refresh_token", "r1"),
        ("continuous_refresh", "true"),
    ]


# Pinned connections (the SSRF guard) on both transports ---------------------------------------


def _certificate(tmp_path: Path, host: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsServer:
    """A TLS server on 127.0.0.1 presenting a certificate for `mastodon.example` only."""

    def __init__(self) -> None:
        self.server_names: list[str | None] = []
        self.host_headers: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("host:"):
                self.host_headers.append(line.split(":", 1)[1].strip())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
            b'Connection: close\r\n\r\n{"ok":true}'
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def tls_server(tmp_path, monkeypatch) -> AsyncIterator[tuple[TlsServer, int]]:
    cert, key = _certificate(tmp_path, "mastodon.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    state = TlsServer()

    def record_sni(sock, server_name, ctx):
        state.server_names.append(server_name)

    context.sni_callback = record_sni
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=context)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the clients trust this certificate only
    try:
        yield state, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


class PinnedGuard(UrlGuard):
    """Resolves every host to 127.0.0.1, as the real guard pins a checked public address."""

    async def check(self, raw):
        return SafeTarget(self.parse(raw), "127.0.0.1")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_pinned_request_connects_to_the_checked_address_with_the_hosts_sni(
    transport, tls_server
):
    state, port = tls_server
    async with new_http_client(HttpSettings(transport=transport)) as client:
        http = PlatformHttp(client, "mastodon", mastodon_signals, httpx.Timeout(5), ManualClock())
        guard = PinnedGuard(platform="mastodon")
        response = await guard.request(http, "GET", f"https://mastodon.example:{port}/api/v1/x")
    assert response.json() == {"ok": True}
    assert state.server_names == ["mastodon.example"]
    assert state.host_headers == [f"mastodon.example:{port}"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_pinned_request_checks_the_certificate_against_the_host_not_the_address(
    transport, tls_server
):
    state, port = tls_server
    async with new_http_client(HttpSettings(transport=transport, retry_attempts=1)) as client:
        http = PlatformHttp(client, "mastodon", mastodon_signals, httpx.Timeout(5), ManualClock())
        with pytest.raises(PlatformUnavailableError) as caught:
            await PinnedGuard(platform="mastodon").request(
                http, "GET", f"https://other.example:{port}/api/v1/x"
            )
    assert caught.value.classification.reason == "connection_error"
    assert state.server_names == ["other.example"]
    assert state.host_headers == []


# What a dropped connection means --------------------------------------------------------------


@pytest.fixture
async def dropping_server() -> AsyncIterator[tuple[list[bytes], int]]:
    """Reads each request whole, then closes the connection without answering."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            received.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield received, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("method", "attempts"), [("POST", 1), ("GET", 3)])
async def test_a_request_the_server_received_then_dropped_is_repeated_only_if_idempotent(
    transport, method, attempts, dropping_server
):
    received, port = dropping_server
    settings = HttpSettings(
        transport=transport, retry_wait_initial_seconds=0.001, retry_wait_jitter_seconds=0
    )
    async with new_http_client(settings) as client:
        http = PlatformHttp(client, "x", mastodon_signals, httpx.Timeout(5), ManualClock())
        with pytest.raises(PlatformUnavailableError) as caught:
            await http.send(method, f"http://127.0.0.1:{port}/2/oauth2/token", data={"a": "b"})
    assert caught.value.classification.reason == "connection_error"
    # aiohttp itself sends an idempotent request once more when the connection drops before the
    # answer (RFC 9112 section 9.3.1); never anything else.
    resent_by_aiohttp = 2 if transport == "aiohttp" and method == "GET" else 1
    assert len(received) == attempts * resent_by_aiohttp


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_connection_is_retried_even_for_a_post(transport, unused_tcp_port):
    settings = HttpSettings(
        transport=transport, retry_wait_initial_seconds=0.001, retry_wait_jitter_seconds=0
    )
    attempts = 0
    async with new_http_client(settings) as client:
        real_send = client.send

        async def counting_send(*args, **kwargs):
            nonlocal attempts
            attempts += 1
            return await real_send(*args, **kwargs)

        client.send = counting_send
        http = PlatformHttp(client, "x", mastodon_signals, httpx.Timeout(5), ManualClock())
        with pytest.raises(PlatformUnavailableError):
            await http.send("POST", f"http://127.0.0.1:{unused_tcp_port}/token", data={"a": "b"})
    assert attempts == 3


# The aiohttp transport's translations ---------------------------------------------------------


REQUEST = httpx.Request("GET", "https://graph.example/me?access_token=SECRET")
KEY = ConnectionKey("graph.example", 443, True, True, None, None, None)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (
            aiohttp.ConnectionTimeoutError("Connection timeout to host " + str(REQUEST.url)),
            httpx.ConnectTimeout,
        ),
        (aiohttp.ClientConnectorError(KEY, OSError(111, "refused")), httpx.ConnectError),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError),
        (aiohttp.ClientPayloadError("truncated"), httpx.ReadError),
        (aiohttp.ServerTimeoutError("timeout"), httpx.ReadTimeout),
        (TimeoutError(), httpx.ReadTimeout),
    ],
)
def test_aiohttp_failures_become_what_they_mean_with_no_url_in_the_message(raised, expected):
    # As httpx-aiohttp raises them: its own mapping, chained to aiohttp's exception.
    wrapped = httpx.ConnectTimeout(str(raised), request=REQUEST)
    wrapped.__cause__ = raised
    for error in (raised, wrapped):
        translated = translate_error(error, REQUEST)
        assert type(translated) is expected
        assert "SECRET" not in str(translated)
        assert translated.request is REQUEST
