import base64
import json

import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import AppPasswordRequiredError, BlueskyAdapter, UnsafeURLError
from mooring.platforms.bluesky_identity import jwt_expiry
from mooring.platforms.settings import BlueskySettings
from mooring.platforms.testing import FakeResolver, ManualClock, Recorder, json_response


def jwt(exp: int) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).rstrip(b"=").decode()
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


def pds_handler(pds_endpoint: str):
    def handler(request: httpx.Request) -> httpx.Response:
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
                {
                    "accessJwt": jwt(1_800_000_000),
                    "refreshJwt": jwt(1_900_000_000),
                    "did": "did:plc:abc",
                    "handle": "alice.test",
                },
            )
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
