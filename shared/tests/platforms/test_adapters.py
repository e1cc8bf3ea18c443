import base64
import hashlib
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import (
    Outcome,
    PlatformError,
    RefreshNotAllowedError,
    RevokedError,
    TokenSet,
    get_adapter,
    get_oauth_adapter,
)
from mooring.platforms.simulator import simulator_settings
from mooring.platforms.testing import ManualClock, Recorder, form_of, json_response

SETTINGS = simulator_settings(
    "http://sim.test", client_id="cid", client_secret="client-secret-value"
)
REDIRECT = "https://app.example/callback"


@pytest.mark.parametrize(
    ("identifier", "path", "separator", "pkce"),
    [
        ("linkedin", "/linkedin/oauth/v2/authorization", " ", False),
        ("linkedin-page", "/linkedin/oauth/v2/authorization", " ", False),
        ("x", "/x/i/oauth2/authorize", " ", True),
        ("facebook", "/facebook/v25.0/dialog/oauth", ",", False),
        ("instagram-facebook", "/facebook/v25.0/dialog/oauth", ",", False),
        ("instagram", "/instagram/oauth/authorize", ",", False),
        ("tiktok", "/tiktok/v2/auth/authorize/", ",", False),
        ("youtube", "/google/o/oauth2/v2/auth", " ", True),
        ("threads", "/threads/oauth/authorize", ",", False),
        ("pinterest", "/pinterest/oauth/", ",", False),
    ],
)
async def test_authorization_urls(identifier, path, separator, pkce):
    async with httpx.AsyncClient() as client:
        adapter = get_oauth_adapter(identifier, SETTINGS, client)
        request = await adapter.start_authorization(redirect_uri=REDIRECT, state="st@te 1")
    url = httpx.URL(request.url)
    assert url.path == path
    params = url.params
    assert params["state"] == "st@te 1"
    assert params["redirect_uri"] == REDIRECT
    assert params["response_type"] == "code"
    assert params.get("client_id", params.get("client_key")) == "cid"
    assert params["scope"] == separator.join(adapter.description.scopes)
    if pkce:
        verifier = request.code_verifier.get_secret_value()
        digest = hashlib.sha256(verifier.encode()).digest()
        assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert params["code_challenge_method"] == "S256"
    else:
        assert "code_challenge" not in params
        assert request.code_verifier is None
    assert "client-secret-value" not in request.url


async def test_youtube_asks_for_offline_access():
    async with httpx.AsyncClient() as client:
        request = await get_oauth_adapter("youtube", SETTINGS, client).start_authorization(
            redirect_uri=REDIRECT, state="s"
        )
    params = httpx.URL(request.url).params
    assert params["access_type"] == "offline"
    assert params["prompt"] == "consent"


async def test_x_exchanges_with_basic_auth_and_the_verifier():
    def handler(request):
        assert (
            request.headers["authorization"]
            == "Basic " + base64.b64encode(b"cid:client-secret-value").decode()
        )
        body = form_of(request)
        assert body == {
            "grant_type": "authorization_code",
            "code": "the-code",
            "redirect_uri": REDIRECT,
            "code_verifier": "v" * 64,
        }
        return json_response(
            200,
            {
                "access_token": "at",
                "refresh_token": "rt",
                "expires_in": 7200,
                "scope": "tweet.read users.read",
            },
        )

    clock = ManualClock()
    recorder = Recorder(handler)
    async with recorder.client() as client:
        adapter = get_oauth_adapter("x", SETTINGS, client, clock=clock)
        tokens = await adapter.exchange_code(
            code="the-code", redirect_uri=REDIRECT, code_verifier=SecretStr("v" * 64)
        )
    assert tokens.expires_at == clock.now + timedelta(seconds=7200)
    assert tokens.scopes == ("tweet.read", "users.read")


async def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one():
    recorder = Recorder(
        lambda request: json_response(200, {"access_token": "new", "expires_in": 3599})
    )
    clock = ManualClock()
    old = TokenSet(
        access_token=SecretStr("old"), refresh_token=SecretStr("keep-me"), issued_at=clock.now
    )
    async with recorder.client() as client:
        fresh = await get_adapter("youtube", SETTINGS, client, clock=clock).refresh(old)
    assert fresh.access_token.get_secret_value() == "new"
    assert fresh.refresh_token.get_secret_value() == "keep-me"
    assert fresh.expires_at == clock.now + timedelta(seconds=3599)
    assert form_of(recorder.requests[0])["refresh_token"] == "keep-me"


async def test_pinterest_rotates_and_a_used_refresh_token_is_revoked():
    def handler(request):
        if form_of(request)["refresh_token"] == "used":
            return json_response(400, {"code": 1, "message": "Invalid refresh token."})
        return json_response(
            200,
            {
                "access_token": "a2",
                "refresh_token": "r2",
                "expires_in": 2592000,
                "refresh_token_expires_in": 5184000,
            },
        )

    clock = ManualClock()
    recorder = Recorder(handler)
    async with recorder.client() as client:
        adapter = get_adapter("pinterest", SETTINGS, client, clock=clock)
        fresh = await adapter.refresh(
            TokenSet(
                access_token=SecretStr("a1"), refresh_token=SecretStr("r1"), issued_at=clock.now
            )
        )
        with pytest.raises(RevokedError):
            await adapter.refresh(
                TokenSet(
                    access_token=SecretStr("a1"),
                    refresh_token=SecretStr("used"),
                    issued_at=clock.now,
                )
            )
    assert fresh.refresh_token.get_secret_value() == "r2"
    assert fresh.refresh_expires_at == clock.now + timedelta(days=60)


@pytest.mark.parametrize("identifier", ["instagram", "threads"])
async def test_extend_in_place_is_refused_locally_before_24_hours_and_after_expiry(identifier):
    recorder = Recorder(
        lambda request: json_response(
            200, {"access_token": "same", "token_type": "bearer", "expires_in": 5183944}
        )
    )
    clock = ManualClock()
    tokens = TokenSet(
        access_token=SecretStr("same"),
        issued_at=clock.now,
        expires_at=clock.now + timedelta(days=60),
    )
    async with recorder.client() as client:
        adapter = get_adapter(identifier, SETTINGS, client, clock=clock)
        clock.advance(timedelta(hours=23))
        with pytest.raises(RefreshNotAllowedError) as caught:
            await adapter.refresh(tokens)
        assert caught.value.classification.outcome is Outcome.POLICY
        assert caught.value.classification.reason == "refresh_too_early"
        assert caught.value.retry_after == timedelta(hours=1)
        assert recorder.requests == []
        clock.advance(timedelta(hours=2))
        fresh = await adapter.refresh(tokens)
        assert fresh.issued_at == clock.now
        assert fresh.expires_at == clock.now + timedelta(seconds=5183944)
        clock.advance(timedelta(days=61))
        with pytest.raises(RevokedError):
            await adapter.refresh(fresh)


@pytest.mark.parametrize("identifier", ["facebook", "instagram-facebook", "mastodon"])
async def test_platforms_without_refresh_say_so_as_policy(identifier):
    async with httpx.AsyncClient() as client:
        adapter = get_adapter(identifier, SETTINGS, client)
        with pytest.raises(RefreshNotAllowedError):
            await adapter.refresh(
                TokenSet(access_token=SecretStr("t"), issued_at=ManualClock().now)
            )


async def test_linkedin_without_a_refresh_token_asks_for_a_reconnect():
    async with httpx.AsyncClient() as client:
        with pytest.raises(RefreshNotAllowedError) as caught:
            await get_adapter("linkedin", SETTINGS, client).refresh(
                TokenSet(access_token=SecretStr("t"), issued_at=ManualClock().now)
            )
    assert caught.value.classification.reason == "no_refresh_token"


async def test_facebook_upgrades_to_a_long_lived_token_and_lists_pages_with_their_tokens():
    def handler(request):
        params = request.url.params
        if request.url.path.endswith("/oauth/access_token") and "code" in params:
            return json_response(200, {"access_token": "short", "expires_in": 5400})
        if request.url.path.endswith("/oauth/access_token"):
            assert params["grant_type"] == "fb_exchange_token"
            assert params["fb_exchange_token"] == "short"
            return json_response(200, {"access_token": "long", "expires_in": 5183944})
        if request.url.path.endswith("/me/accounts"):
            assert request.headers["authorization"] == "Bearer long"
            return json_response(
                200,
                {
                    "data": [
                        {
                            "id": "p1",
                            "name": "Page 1",
                            "access_token": "page-token-1",
                            "instagram_business_account": {"id": "ig1"},
                        },
                        {"id": "p2", "name": "Page 2", "access_token": "page-token-2"},
                    ]
                },
            )
        if request.url.path.endswith("/ig1"):
            assert request.headers["authorization"] == "Bearer page-token-1"
            return json_response(200, {"id": "ig1", "username": "brand"})
        return json_response(404, {})

    clock = ManualClock()
    recorder = Recorder(handler)
    async with recorder.client() as client:
        facebook = get_oauth_adapter("facebook", SETTINGS, client, clock=clock)
        tokens = await facebook.exchange_code(code="c#_", redirect_uri=REDIRECT)
        pages = await facebook.list_candidates(tokens)
        instagram = await get_adapter(
            "instagram-facebook", SETTINGS, client, clock=clock
        ).list_candidates(tokens)
    assert tokens.access_token.get_secret_value() == "long"
    assert tokens.expires_at == clock.now + timedelta(seconds=5183944)
    assert recorder.requests[0].url.params["code"] == "c"
    assert [
        (p.id, p.tokens.access_token.get_secret_value(), p.tokens.expires_at) for p in pages
    ] == [("p1", "page-token-1", None), ("p2", "page-token-2", None)]
    assert [(c.id, c.username, c.parent_id) for c in instagram] == [("ig1", "brand", "p1")]


async def test_secrets_never_show_in_reprs_strings_or_error_messages():
    secret_values = ["access-AAA", "refresh-BBB", "client-secret-value", "verifier-CCC"]

    def handler(request):
        return json_response(
            400,
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
        )

    recorder = Recorder(handler)
    tokens = TokenSet(
        access_token=SecretStr("access-AAA"),
        refresh_token=SecretStr("refresh-BBB"),
        issued_at=ManualClock().now,
    )
    rendered = [repr(tokens), str(tokens), repr(SETTINGS), str(SETTINGS)]
    async with recorder.client() as client:
        for identifier in ["x", "youtube", "linkedin", "tiktok", "pinterest"]:
            adapter = get_adapter(identifier, SETTINGS, client)
            with pytest.raises(PlatformError) as caught:
                await adapter.refresh(tokens)
            rendered += [repr(caught.value), str(caught.value), repr(caught.value.classification)]
            rendered.append(repr(adapter.__dict__))
        request = await get_oauth_adapter("x", SETTINGS, client).start_authorization(
            redirect_uri=REDIRECT, state="s"
        )
        rendered.append(repr(request))
        secret_values.append(request.code_verifier.get_secret_value())
    text = "\n".join(rendered)
    for value in secret_values:
        assert value not in text
