import base64
import json

import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import (
    AppPasswordRequiredError,
    BlueskyAdapter,
    PolicyError,
    RevokedError,
    TokenSet,
    UnsafeURLError,
    get_bluesky_adapter,
    new_http_client,
)
from mooring.platforms.bluesky_identity import jwt_expiry
from mooring.platforms.settings import BlueskySettings, HttpSettings
from mooring.platforms.simulator import simulator_settings
from mooring.platforms.testing import FakeResolver, ManualClock, Recorder, json_response

APP_PASS = "com.atproto.appPass"
FULL = "com.atproto.access"


def jwt(exp: int, scope: str | None = APP_PASS) -> str:
    claims: dict[str, object] = {"exp": exp}
    if scope is not None:
        claims["scope"] = scope
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{payload}.sig"


def adapter_with(recorder, allowed=("pds.test",)):
    settings = BlueskySettings(
        resolver_base="https://bsky.test",
        plc_directory_base="https://plc.test",
        allowed_hosts=allowed,
    )
    return BlueskyAdapter(
        settings,
        http_client=recorder.client(),
        timeout=httpx.Timeout(1),
        clock=ManualClock(),
        resolver=FakeResolver({}),
    )


@pytest.mark.parametrize(
    "password",
    [
        "hunter2",
        "correct horse battery staple",
        "ABCD-EFGH-IJKL-MNOP",
        "abcd-efgh-ijkl",
        "abcd-efgh-ijkl-mnop-qrst",
        "abcdefghijklmnop",
    ],
)
async def test_a_main_password_is_refused_before_any_network_call(password):
    recorder = Recorder(lambda request: json_response(500, {}))
    adapter = adapter_with(recorder)
    with pytest.raises(AppPasswordRequiredError) as caught:
        await adapter.login(handle="alice.bsky.social", app_password=SecretStr(password))
    assert recorder.requests == []
    assert "App Password" in str(caught.value)
    assert "Settings" in str(caught.value)
    assert password not in str(caught.value)
    assert password not in repr(caught.value)


def pds_handler(pds_endpoint: str, session: dict[str, object] | None = None, **answers):
    """A resolver, a PLC directory and a PDS; `answers` override paths (`getProfile=...`)."""

    def handler(request: httpx.Request) -> httpx.Response:
        nsid = request.url.path.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
        if nsid in answers:
            return answers[nsid](request)
        path = request.url.path
        if path == "/xrpc/com.atproto.identity.resolveHandle":
            return json_response(200, {"did": "did:plc:abc"})
        if path == "/did:plc:abc":
            return json_response(
                200,
                {
                    "id": "did:plc:abc",
                    "service": [
                        {
                            "id": "#atproto_pds",
                            "type": "AtprotoPersonalDataServer",
                            "serviceEndpoint": pds_endpoint,
                        }
                    ],
                },
            )
        if path == "/xrpc/com.atproto.server.createSession":
            assert json.loads(request.content) == {
                "identifier": "did:plc:abc",
                "password": "abcd-efgh-ijkl-mnop",
            }
            return json_response(
                200,
                session
                or {
                    "accessJwt": jwt(1_800_000_000),
                    "refreshJwt": jwt(1_900_000_000, scope="com.atproto.refresh"),
                    "did": "did:plc:abc",
                    "handle": "alice.test",
                    "active": True,
                },
            )
        if path == "/xrpc/com.atproto.server.deleteSession":
            return httpx.Response(200)
        return json_response(404, {})

    return handler


async def test_login_resolves_handle_did_and_pds_then_opens_a_session():
    recorder = Recorder(pds_handler("https://pds.test"))
    tokens = await adapter_with(recorder).login(
        handle="@Alice.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )
    assert recorder.paths == [
        "/xrpc/com.atproto.identity.resolveHandle",
        "/did:plc:abc",
        "/xrpc/com.atproto.server.createSession",
    ]
    assert recorder.requests[0].url.params["handle"] == "alice.bsky.social"
    assert tokens.service_url == "https://pds.test"
    assert tokens.expires_at == jwt_expiry(jwt(1_800_000_000))
    assert tokens.refresh_token is not None


async def test_a_did_document_pointing_at_a_private_pds_is_refused():
    recorder = Recorder(pds_handler("https://169.254.169.254"))
    with pytest.raises(UnsafeURLError):
        await adapter_with(recorder).login(
            handle="alice.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
        )
    assert "/xrpc/com.atproto.server.createSession" not in recorder.paths


async def login(recorder, password="abcd-efgh-ijkl-mnop"):  # noqa: S107 - a test value
    return await adapter_with(recorder).login(
        handle="alice.bsky.social", app_password=SecretStr(password)
    )


def deleted_with(recorder) -> list[str]:
    return [
        r.headers["authorization"]
        for r in recorder.requests
        if r.url.path == "/xrpc/com.atproto.server.deleteSession"
    ]


async def test_a_main_password_shaped_like_an_app_password_is_refused_and_its_session_deleted():
    # A real PDS accepts a main password that happens to look like xxxx-xxxx-xxxx-xxxx and
    # opens a full-privilege session; the scope in its access token is what tells.
    refresh = jwt(1_900_000_000, scope="com.atproto.refresh")
    session = {"accessJwt": jwt(1_800_000_000, scope=FULL), "refreshJwt": refresh,
               "did": "did:plc:abc", "handle": "alice.test", "active": True}  # fmt: skip
    recorder = Recorder(pds_handler("https://pds.test", session))
    with pytest.raises(AppPasswordRequiredError) as caught:
        await login(recorder)
    assert "full-privilege" in str(caught.value)
    assert "abcd-efgh-ijkl-mnop" not in str(caught.value)
    assert deleted_with(recorder) == [f"Bearer {refresh}"]


@pytest.mark.parametrize("scope", [None, "com.atproto.appPassPrivileged", FULL])
async def test_only_the_app_password_scope_is_accepted(scope):
    session = {"accessJwt": jwt(1_800_000_000, scope=scope), "refreshJwt": jwt(1_900_000_000),
               "did": "did:plc:abc", "handle": "alice.test"}  # fmt: skip
    recorder = Recorder(pds_handler("https://pds.test", session))
    with pytest.raises(AppPasswordRequiredError):
        await login(recorder)
    assert len(deleted_with(recorder)) == 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"active": False, "status": "deactivated"}, "deactivated"),
        ({"active": False, "status": "takendown"}, "takendown"),
        ({"active": False}, "inactive"),
        ({"status": "suspended"}, "suspended"),
    ],
)
async def test_an_inactive_account_does_not_connect_and_its_session_is_deleted(answer, said):
    session = {"accessJwt": jwt(1_800_000_000), "refreshJwt": jwt(1_900_000_000),
               "did": "did:plc:abc", "handle": "alice.test", **answer}  # fmt: skip
    recorder = Recorder(pds_handler("https://pds.test", session))
    with pytest.raises(PolicyError) as caught:
        await login(recorder)
    assert caught.value.classification.reason == "account_inactive"
    assert said in caught.value.classification.detail
    assert len(deleted_with(recorder)) == 1


def session_tokens() -> TokenSet:
    return TokenSet(
        access_token=SecretStr(jwt(1_800_000_000)),
        refresh_token=SecretStr(jwt(1_900_000_000, scope="com.atproto.refresh")),
        issued_at=ManualClock().now,
        service_url="https://pds.test",
    )


async def test_a_refresh_that_says_the_account_is_inactive_is_a_policy_failure_not_a_success():
    def refreshed(_: httpx.Request) -> httpx.Response:
        return json_response(200, {"accessJwt": jwt(1_800_000_100),
                                   "refreshJwt": jwt(1_900_000_100), "did": "did:plc:abc",
                                   "handle": "alice.test", "active": False,
                                   "status": "suspended"})  # fmt: skip

    recorder = Recorder(pds_handler("https://pds.test", refreshSession=refreshed))
    with pytest.raises(PolicyError) as caught:
        await adapter_with(recorder).refresh(session_tokens())
    assert caught.value.classification.reason == "account_inactive"
    # The new session is left alone: deleting it could end the old refresh token's grace too.
    assert deleted_with(recorder) == []


async def test_a_refresh_into_a_full_privilege_session_is_refused():
    def refreshed(_: httpx.Request) -> httpx.Response:
        return json_response(200, {"accessJwt": jwt(1_800_000_100, scope=FULL),
                                   "refreshJwt": jwt(1_900_000_100), "did": "did:plc:abc"})  # fmt: skip

    recorder = Recorder(pds_handler("https://pds.test", refreshSession=refreshed))
    with pytest.raises(AppPasswordRequiredError):
        await adapter_with(recorder).refresh(session_tokens())
    assert len(deleted_with(recorder)) == 1


async def test_the_pds_error_message_reaches_the_error_detail_redacted():
    def refused(_: httpx.Request) -> httpx.Response:
        return json_response(
            401,
            {"error": "AuthenticationRequired",
             "message": "Invalid identifier or password (refresh_token=abc123secret)"},
        )  # fmt: skip

    recorder = Recorder(pds_handler("https://pds.test", createSession=refused))
    with pytest.raises(RevokedError) as caught:
        await login(recorder)
    detail = caught.value.classification.detail
    assert detail.startswith("AuthenticationRequired: Invalid identifier or password")
    assert "abc123secret" not in detail
    assert "abc123secret" not in str(caught.value)
    assert "Invalid identifier or password" in str(caught.value)
    assert "abcd-efgh-ijkl-mnop" not in str(caught.value)


async def test_an_unresolvable_handle_says_so():
    def unknown(_: httpx.Request) -> httpx.Response:
        return json_response(
            400, {"error": "InvalidRequest", "message": "Unable to resolve handle"}
        )

    recorder = Recorder(pds_handler("https://pds.test", resolveHandle=unknown))
    with pytest.raises(PolicyError) as caught:
        await login(recorder)
    assert caught.value.classification.detail == "InvalidRequest: Unable to resolve handle"


def session_answer(_: httpx.Request) -> httpx.Response:
    return json_response(200, {"did": "did:plc:abc", "handle": "alice.test", "active": True})


async def test_without_an_appview_the_profile_falls_back_to_the_sessions_handle():
    def no_appview(_: httpx.Request) -> httpx.Response:
        return json_response(
            400,
            {"error": "InvalidRequest",
             "message": "No service configured for app.bsky.actor.getProfile"},
        )  # fmt: skip

    recorder = Recorder(
        pds_handler("https://pds.test", getSession=session_answer, getProfile=no_appview)
    )
    profile = await adapter_with(recorder).fetch_profile(session_tokens())
    assert (profile.platform_account_id, profile.username, profile.display_name) == (
        "did:plc:abc",
        "alice.test",
        None,
    )


async def test_a_dead_token_at_get_profile_is_not_papered_over():
    def dead(_: httpx.Request) -> httpx.Response:
        return json_response(400, {"error": "ExpiredToken", "message": "Token has expired"})

    recorder = Recorder(pds_handler("https://pds.test", getSession=session_answer, getProfile=dead))
    with pytest.raises(RevokedError):
        await adapter_with(recorder).fetch_profile(session_tokens())


# -- the same cases against the platform simulator (real HTTP) -------------------------------


@pytest.fixture
async def sim_bluesky(sim_url):
    async with new_http_client(HttpSettings()) as client:
        (await client.post(f"{sim_url}/_control/reset")).raise_for_status()
        yield get_bluesky_adapter(simulator_settings(sim_url), client)


async def sim_control(sim_url, method, path, body=None):
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.request(method, f"{sim_url}/_control{path}", json=body)
    response.raise_for_status()
    return response.json()


async def test_simulator_a_main_password_is_refused_and_its_session_deleted(sim_url, sim_bluesky):
    await sim_control(
        sim_url, "POST", "/bluesky/accounts",
        {"handle": "main.bsky.social", "main_password": "mnop-qrst-uvwx-yz12"},
    )  # fmt: skip
    with pytest.raises(AppPasswordRequiredError):
        await sim_bluesky.login(
            handle="main.bsky.social", app_password=SecretStr("mnop-qrst-uvwx-yz12")
        )
    calls = (await sim_control(sim_url, "GET", "/calls?platform=bluesky"))["bluesky"]
    assert calls["/bluesky/xrpc/com.atproto.server.deleteSession"] == 1


async def test_simulator_a_deactivated_account_does_not_connect(sim_url, sim_bluesky):
    await sim_control(
        sim_url, "POST", "/bluesky/accounts",
        {"handle": "gone.bsky.social", "app_password": "abcd-efgh-ijkl-mnop",
         "status": "deactivated"},
    )  # fmt: skip
    with pytest.raises(PolicyError) as caught:
        await sim_bluesky.login(
            handle="gone.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
        )
    assert caught.value.classification.reason == "account_inactive"


async def test_simulator_wrong_password_detail_and_profile_without_appview(sim_url, sim_bluesky):
    await sim_control(
        sim_url, "POST", "/bluesky/accounts",
        {"handle": "solo.bsky.social", "app_password": "abcd-efgh-ijkl-mnop", "appview": False},
    )  # fmt: skip
    with pytest.raises(RevokedError) as caught:
        await sim_bluesky.login(
            handle="solo.bsky.social", app_password=SecretStr("zzzz-zzzz-zzzz-zzzz")
        )
    assert caught.value.classification.detail == (
        "AuthenticationRequired: Invalid identifier or password"
    )
    tokens = await sim_bluesky.login(
        handle="solo.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )
    profile = await sim_bluesky.fetch_profile(tokens)
    assert profile.username == "solo.bsky.social"
    assert profile.display_name is None
