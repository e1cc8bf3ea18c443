"""Real HTTP against the platform simulator, started as a subprocess on a free loopback port.

Each platform goes through connect -> profile -> selection -> refresh -> verify -> revoke ->
classified dead, and the failure modes (rotation, 24 h rule, 429, 5xx, timeouts, SSRF) are
driven through the simulator's control API.
"""

import asyncio
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import (
    AppPasswordRequiredError,
    BlueskyAdapter,
    InMemoryMastodonAppStore,
    OAuthPlatformAdapter,
    Outcome,
    PlatformSettings,
    PlatformUnavailableError,
    RateLimitedError,
    RefreshModel,
    RefreshNotAllowedError,
    RevokedError,
    TokenSet,
    UnsafeURLError,
    get_adapter,
    get_bluesky_adapter,
    get_oauth_adapter,
    new_http_client,
)
from mooring.platforms.settings import HttpSettings
from mooring.platforms.simulator import simulator_settings
from mooring.platforms.testing import ManualClock

REDIRECT = "http://127.0.0.1:1/callback"
APP_PASSWORD = SecretStr("abcd-efgh-ijkl-mnop")
OAUTH_PLATFORMS = [
    "linkedin",
    "linkedin-page",
    "x",
    "facebook",
    "instagram",
    "instagram-facebook",
    "tiktok",
    "youtube",
    "threads",
    "pinterest",
    "mastodon",
]
# The simulator's state prefix for each platform (sim/README.md).
SIM_PREFIX = {
    "linkedin": "linkedin",
    "linkedin-page": "linkedin",
    "x": "x",
    "facebook": "facebook",
    "instagram": "instagram",
    "instagram-facebook": "facebook",
    "tiktok": "tiktok",
    "youtube": "google",
    "threads": "threads",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
    "mastodon": "mastodon",
}
SELECTION_COUNT = {"linkedin-page": 2, "facebook": 2, "instagram-facebook": 1, "youtube": 2}


class Control:
    def __init__(self, base: str) -> None:
        self.base = f"{base}/_control"

    def post(self, path: str, body: object) -> dict:
        response = httpx.post(f"{self.base}{path}", json=body, timeout=5)
        response.raise_for_status()
        return response.json()

    def get(self, path: str) -> dict:
        response = httpx.get(f"{self.base}{path}", timeout=5)
        response.raise_for_status()
        return response.json()

    def delete(self, path: str) -> None:
        httpx.delete(f"{self.base}{path}", timeout=5).raise_for_status()

    def calls(self, prefix: str) -> int:
        return sum(self.get(f"/calls?platform={prefix}").get(prefix, {}).values())

    def advance(self, delta: timedelta) -> None:
        self.post("/clock", {"advance_seconds": delta.total_seconds()})


@pytest.fixture
def control(sim_url: str) -> Control:
    control = Control(sim_url)
    control.post("/reset", {})
    return control


@pytest.fixture
def settings(sim_url: str) -> PlatformSettings:
    return simulator_settings(sim_url)


@pytest.fixture(params=["aiohttp", "httpx"])
async def http(request) -> httpx.AsyncClient:
    """The process's shared client, on each transport."""
    async with new_http_client(HttpSettings(transport=request.param)) as client:
        yield client


def instance_of(sim_url: str, name: str = "mastodon.social") -> str:
    return f"{sim_url}/mastodon/{name}"


async def connect(
    adapter: OAuthPlatformAdapter, user: str, *, instance: str | None = None
) -> TokenSet:
    request = await adapter.start_authorization(
        redirect_uri=REDIRECT, state=f"state-{user}", instance_url=instance
    )
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(f"{request.url}&sim_user={user}&sim_decision=approve")
    assert consent.status_code == 302, consent.text[:200]
    location = httpx.URL(consent.headers["location"])
    assert location.params["state"] == f"state-{user}"
    return await adapter.exchange_code(
        code=location.params["code"],
        redirect_uri=REDIRECT,
        code_verifier=request.code_verifier,
        service_url=request.service_url,
    )


def revoke_selector(identifier: str, user: str, tokens: TokenSet) -> dict:
    if identifier == "bluesky":  # Bluesky users are named by handle; revoke the session itself
        return {"token": tokens.refresh_token.get_secret_value()}
    selector = {"platform": SIM_PREFIX[identifier], "user": user}
    if identifier == "mastodon":
        selector["instance"] = "mastodon.social"
    return selector


@pytest.mark.parametrize("identifier", [*OAUTH_PLATFORMS, "bluesky"])
async def test_connect_profile_select_refresh_verify_then_revoke(
    identifier, sim_url, control, settings, http
):
    clock = ManualClock()
    user = f"rt-{identifier}"
    adapter = get_adapter(
        identifier, settings, http, clock=clock, mastodon_apps=InMemoryMastodonAppStore()
    )
    if isinstance(adapter, BlueskyAdapter):
        tokens = await adapter.login(handle=f"{user}.bsky.social", app_password=APP_PASSWORD)
    else:
        instance = instance_of(sim_url) if identifier == "mastodon" else None
        tokens = await connect(adapter, user, instance=instance)

    profile = await adapter.fetch_profile(tokens)
    assert profile.platform_account_id
    candidates = await adapter.list_candidates(tokens)
    assert len(candidates) == SELECTION_COUNT.get(identifier, 0)
    account_tokens = candidates[0].tokens if candidates and candidates[0].tokens else tokens

    model = adapter.description.refresh_model
    if model is RefreshModel.EXTEND_IN_PLACE:
        clock.advance(timedelta(hours=25))
        control.advance(timedelta(hours=25))
    if model is RefreshModel.NONE:
        with pytest.raises(RefreshNotAllowedError):
            await adapter.refresh(tokens)
    else:
        refreshed = await adapter.refresh(tokens)
        assert refreshed.expires_at is not None
        assert refreshed.expires_at > clock.now
        assert refreshed.refresh_token is not None or model is RefreshModel.EXTEND_IN_PLACE
        tokens = refreshed
        if not candidates:
            account_tokens = refreshed

    assert (await adapter.verify(account_tokens)).outcome is Outcome.OK

    assert control.post("/tokens/revoke", revoke_selector(identifier, user, tokens))["revoked"] >= 1
    verdict = await adapter.verify(account_tokens)
    assert verdict.outcome is Outcome.REVOKED, verdict
    if model is not RefreshModel.NONE:
        if model is RefreshModel.EXTEND_IN_PLACE:
            clock.advance(timedelta(hours=25))
            control.advance(timedelta(hours=25))
        with pytest.raises(RevokedError):
            await adapter.refresh(tokens)


@pytest.mark.parametrize("identifier", ["x", "tiktok", "pinterest"])
async def test_rotating_refresh_tokens_die_after_use(identifier, control, settings, http):
    adapter = get_oauth_adapter(identifier, settings, http)
    tokens = await connect(adapter, f"rot-{identifier}")
    fresh = await adapter.refresh(tokens)
    assert fresh.refresh_token.get_secret_value() != tokens.refresh_token.get_secret_value()
    with pytest.raises(RevokedError):
        await adapter.refresh(tokens)
    assert (await adapter.verify(await adapter.refresh(fresh))).is_ok


async def test_bluesky_sessions_rotate_with_a_two_hour_grace(control, settings, http):
    adapter = get_bluesky_adapter(settings, http)
    tokens = await adapter.login(handle="rot.bsky.social", app_password=APP_PASSWORD)
    fresh = await adapter.refresh(tokens)
    assert fresh.refresh_token.get_secret_value() != tokens.refresh_token.get_secret_value()
    control.advance(timedelta(hours=3))
    with pytest.raises(RevokedError) as caught:
        await adapter.refresh(tokens)
    assert caught.value.classification.reason in {"ExpiredToken", "InvalidToken"}
    assert (await adapter.verify(await adapter.refresh(fresh))).is_ok


@pytest.mark.parametrize("identifier", ["instagram", "threads"])
async def test_extension_is_refused_before_24_hours_then_works(identifier, control, settings, http):
    clock = ManualClock()
    adapter = get_oauth_adapter(identifier, settings, http, clock=clock)
    tokens = await connect(adapter, f"ext-{identifier}")
    before = control.calls(identifier)
    clock.advance(timedelta(hours=2))
    with pytest.raises(RefreshNotAllowedError) as caught:
        await adapter.refresh(tokens)
    assert caught.value.classification.reason == "refresh_too_early"
    assert caught.value.retry_after == timedelta(hours=22)
    assert control.calls(identifier) == before  # refused locally, nothing sent

    clock.advance(timedelta(hours=23))
    control.advance(timedelta(hours=25))
    extended = await adapter.refresh(tokens)
    assert extended.issued_at == clock.now
    assert extended.expires_at > tokens.expires_at
    assert (await adapter.verify(extended)).is_ok


async def test_429_is_transient_with_the_platforms_delay(control, settings, http):
    adapter = get_oauth_adapter("x", settings, http)
    tokens = await connect(adapter, "limited")
    control.post(
        "/faults",
        {
            "platform": "x",
            "path": "/2/users/me",
            "kind": "rate_limit",
            "retry_after": 42,
            "times": 1,
        },
    )
    verdict = await adapter.verify(tokens)
    assert verdict.outcome is Outcome.TRANSIENT
    assert verdict.retry_after == timedelta(seconds=42)
    control.post(
        "/faults",
        {
            "platform": "x",
            "path": "/2/oauth2/token",
            "kind": "rate_limit",
            "retry_after": 30,  # longer than the retry budget: handed back, not waited for
            "times": 1,
        },
    )
    with pytest.raises(RateLimitedError) as caught:
        await adapter.refresh(tokens)
    assert caught.value.retry_after == timedelta(seconds=30)
    assert (await adapter.verify(await adapter.refresh(tokens))).is_ok  # the token survived


@pytest.mark.parametrize(
    ("identifier", "path"),
    [("youtube", "/token"), ("tiktok", "/v2/oauth/token/"), ("linkedin", "/oauth/v2/accessToken")],
)
async def test_5xx_on_refresh_is_transient_and_disconnects_nobody(
    identifier, path, control, settings, http
):
    adapter = get_oauth_adapter(identifier, settings, http)
    tokens = await connect(adapter, f"outage-{identifier}")
    control.post(
        "/faults",
        {
            "platform": SIM_PREFIX[identifier],
            "path": path,
            "kind": "error",
            "status": 503,
            "times": 1,
        },
    )
    with pytest.raises(PlatformUnavailableError) as caught:
        await adapter.refresh(tokens)
    assert caught.value.outcome is Outcome.TRANSIENT
    assert (await adapter.refresh(tokens)).access_token


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_hanging_platform_times_out_as_transient(sim_url, control, transport):
    # Short timeouts and no back-off: what is tested is the verdict and the attempts.
    quick = HttpSettings(
        transport=transport,
        timeout_seconds=0.3,
        retry_wait_initial_seconds=0,
        retry_wait_jitter_seconds=0,
    )
    settings = simulator_settings(sim_url).model_copy(update={"http": quick})
    async with new_http_client(quick) as http:
        adapter = get_oauth_adapter("pinterest", settings, http)
        tokens = await connect(adapter, "hang")
        control.post(
            "/faults",
            {
                "platform": "pinterest",
                "path": "/v5/user_account",
                "kind": "hang",
                "seconds": 1,
                "times": 10,  # every attempt: a GET is retried after a timeout
            },
        )
        before = control.calls("pinterest")
        verdict = await adapter.verify(tokens)
    assert (verdict.outcome, verdict.reason) == (Outcome.TRANSIENT, "timeout")
    assert control.calls("pinterest") - before == settings.http.retry_attempts


async def test_bluesky_refuses_a_main_password_without_calling_the_pds(control, settings, http):
    adapter = get_bluesky_adapter(settings, http)
    with pytest.raises(AppPasswordRequiredError, match="App Password"):
        await adapter.login(handle="alice.bsky.social", app_password=SecretStr("my real password"))
    assert control.calls("bluesky") == 0


async def test_mastodon_registers_once_per_instance_and_again_after_a_vacuum(
    sim_url, control, settings, http
):
    store = InMemoryMastodonAppStore()
    adapter = get_oauth_adapter("mastodon", settings, http, mastodon_apps=store)
    await connect(adapter, "m1", instance=instance_of(sim_url))
    await connect(adapter, "m2", instance=instance_of(sim_url) + "/")
    await connect(adapter, "m3", instance=instance_of(sim_url, "fosstodon.org"))
    assert control.get("/mastodon/registrations") == {"mastodon.social": 1, "fosstodon.org": 1}

    control.delete("/mastodon/mastodon.social/apps")  # the instance "vacuums" our app
    await connect(adapter, "m4", instance=instance_of(sim_url))
    assert control.get("/mastodon/registrations")["mastodon.social"] == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://mastodon.social",
        "https://127.0.0.1",
        "https://10.0.0.1",
        "https://169.254.169.254",
        "https://[::1]",
    ],
)
async def test_mastodon_ssrf_probes_are_rejected(url, settings, http):
    adapter = get_oauth_adapter("mastodon", settings, http)
    with pytest.raises(UnsafeURLError):
        await adapter.start_authorization(redirect_uri=REDIRECT, state="s", instance_url=url)


async def test_mastodon_does_not_follow_a_redirect_to_a_private_address(settings, http):
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/api/v1/apps\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    allowed = settings.model_copy(
        update={
            "mastodon": settings.mastodon.model_copy(
                update={"allowed_hosts": (f"127.0.0.1:{port}",)}
            )
        }
    )
    try:
        adapter = get_oauth_adapter("mastodon", allowed, http)
        with pytest.raises(UnsafeURLError) as caught:
            await adapter.start_authorization(
                redirect_uri=REDIRECT, state="s", instance_url=f"http://127.0.0.1:{port}/mastodon/x"
            )
        assert caught.value.classification.reason in {"https_required", "private_address"}
    finally:
        server.close()
        await server.wait_closed()
