import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import InMemoryMastodonAppStore, MastodonAdapter, MastodonApp, PolicyError
from mooring.platforms.settings import MastodonSettings
from mooring.platforms.testing import FakeResolver, ManualClock, Recorder, form_of, json_response

INSTANCE = "https://social.example"


def handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/v1/apps":
        return json_response(200, {"client_id": "cid", "client_secret": "csecret-xyz"})
    if request.url.path == "/oauth/token":
        if form_of(request)["client_id"] == "stale":
            return json_response(401, {"error": "invalid_client"})
        return json_response(
            200,
            {
                "access_token": "masto-token",
                "token_type": "Bearer",
                "scope": "read:accounts write:statuses write:media",
                "created_at": 1,
            },
        )
    return json_response(404, {})


def adapter(recorder, apps):
    return MastodonAdapter(
        MastodonSettings(),
        http_client=recorder.client(),
        timeout=httpx.Timeout(1),
        clock=ManualClock(),
        apps=apps,
        resolver=FakeResolver({"social.example": ["93.184.216.34"]}),
    )


async def test_in_memory_store_keeps_the_first_registration():
    store = InMemoryMastodonAppStore()
    first = MastodonApp("a", SecretStr("s1"))
    assert await store.put(INSTANCE, first) is first
    assert await store.put(INSTANCE, MastodonApp("b", SecretStr("s2"))) is first
    assert await store.get(INSTANCE) is first
    await store.forget(INSTANCE)
    assert await store.get(INSTANCE) is None


async def test_registers_once_per_instance_and_builds_a_pkce_authorize_url():
    recorder = Recorder(handler)
    store = InMemoryMastodonAppStore()
    mastodon = adapter(recorder, store)
    one = await mastodon.start_authorization(
        redirect_uri="https://app.example/cb", state="s1", instance_url="social.example/"
    )
    two = await mastodon.start_authorization(
        redirect_uri="https://app.example/cb", state="s2", instance_url="https://SOCIAL.example"
    )
    # The second start checks the cached client is still known (client_credentials probe,
    # whose app token is revoked at once) instead of registering again.
    assert recorder.paths == ["/api/v1/apps", "/oauth/token", "/oauth/revoke"]
    assert form_of(recorder.requests[1])["grant_type"] == "client_credentials"
    assert one.service_url == two.service_url == INSTANCE
    params = httpx.URL(one.url).params
    assert httpx.URL(one.url).host == "social.example"
    assert params["client_id"] == "cid"
    assert params["code_challenge_method"] == "S256"
    assert params["state"] == "s1"
    assert one.code_verifier is not None


async def test_invalid_client_at_the_token_endpoint_forgets_the_registration():
    recorder = Recorder(handler)
    store = InMemoryMastodonAppStore({INSTANCE: MastodonApp("stale", SecretStr("old"))})
    with pytest.raises(PolicyError) as caught:
        await adapter(recorder, store).exchange_code(
            code="c", redirect_uri="https://app.example/cb", service_url=INSTANCE
        )
    assert caught.value.classification.reason == "invalid_client"
    assert await store.get(INSTANCE) is None


async def test_tokens_are_bound_to_the_instance_and_never_expire():
    recorder = Recorder(handler)
    store = InMemoryMastodonAppStore({INSTANCE: MastodonApp("cid", SecretStr("csecret-xyz"))})
    tokens = await adapter(recorder, store).exchange_code(
        code="c",
        redirect_uri="https://app.example/cb",
        code_verifier=SecretStr("v" * 64),
        service_url=INSTANCE,
    )
    assert tokens.service_url == INSTANCE
    assert tokens.expires_at is None
    assert form_of(recorder.requests[0])["code_verifier"] == "v" * 64
