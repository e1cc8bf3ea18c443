import httpx
import pytest

from mooring.platforms import MastodonAdapter, Outcome, UnsafeURLError, UrlGuard
from mooring.platforms.http import PlatformHttp
from mooring.platforms.settings import MastodonSettings
from mooring.platforms.signals import mastodon_signals
from mooring.platforms.testing import FakeResolver, ManualClock, Recorder, json_response

PUBLIC = "93.184.216.34"


def guard(answers=None, allowed=()):
    return UrlGuard(
        platform="mastodon", allowed_hosts=allowed, resolver=FakeResolver(answers or {})
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://mastodon.example",
        "https://127.0.0.1",
        "https://10.0.0.1",
        "https://172.16.5.4",
        "https://192.168.1.1",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]",
        "https://[fd00::1]",
        "https://[fe80::1]",
        "https://[::ffff:127.0.0.1]",
        "https://[64:ff9b::a00:1]",
        "https://0.0.0.0",
        "https://[::]",
        "https://224.0.0.1",
        "https://100.64.0.1",
        "https://user:pw@mastodon.example",
        "ftp://mastodon.example",
    ],
)
async def test_unsafe_urls_are_rejected_before_any_connection(url):
    with pytest.raises(UnsafeURLError) as caught:
        await guard({"mastodon.example": [PUBLIC]}).check(url)
    assert caught.value.outcome is Outcome.POLICY


@pytest.mark.parametrize(
    "answers",
    [["127.0.0.1"], ["10.1.2.3"], [PUBLIC, "169.254.169.254"], ["::1"], []],
)
async def test_host_names_must_resolve_to_public_addresses_only(answers):
    with pytest.raises(UnsafeURLError):
        await guard({"evil.example": answers}).check("https://evil.example")


async def test_unresolvable_hosts_are_refused():
    with pytest.raises(UnsafeURLError, match="does not resolve"):
        await guard().check("https://nowhere.example")


async def test_a_public_host_passes_and_is_pinned_to_the_checked_address():
    target = await guard({"mastodon.example": [PUBLIC]}).check("mastodon.example/")
    url, headers, extensions = target.request_parts()
    assert url.host == PUBLIC
    assert headers == {"Host": "mastodon.example"}
    assert extensions == {"sni_hostname": "mastodon.example"}


async def test_allow_listed_hosts_pass_over_http_without_resolution():
    resolver = FakeResolver({})
    checked = await UrlGuard(
        platform="mastodon", allowed_hosts=["127.0.0.1:8990"], resolver=resolver
    ).check("http://127.0.0.1:8990/mastodon/alpha")
    assert checked.address is None
    assert resolver.asked == []
    with pytest.raises(UnsafeURLError):
        await guard(allowed=["127.0.0.1:8990"]).check("http://127.0.0.1:8991/mastodon/alpha")


async def test_a_redirect_to_a_private_address_is_not_followed():
    def handler(request):
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data"})

    recorder = Recorder(handler)
    async with recorder.client() as client:
        http = PlatformHttp(client, "mastodon", mastodon_signals, httpx.Timeout(1), ManualClock())
        with pytest.raises(UnsafeURLError):
            await guard({"mastodon.example": [PUBLIC]}).request(
                http, "GET", "https://mastodon.example/api/v1/instance"
            )
    assert [r.url.host for r in recorder.requests] == [PUBLIC]


async def test_redirects_are_followed_hop_by_hop_and_drop_credentials_across_hosts():
    def handler(request):
        if request.headers["host"] == "old.example":
            return httpx.Response(301, headers={"Location": "https://new.example/api/v1/x"})
        return json_response(200, {"ok": True})

    recorder = Recorder(handler)
    answers = {"old.example": [PUBLIC], "new.example": ["93.184.216.35"]}
    async with recorder.client() as client:
        http = PlatformHttp(client, "mastodon", mastodon_signals, httpx.Timeout(1), ManualClock())
        response = await guard(answers).request(
            http, "GET", "https://old.example/api/v1/x", headers={"Authorization": "Bearer t"}
        )
    assert response.status_code == 200
    assert "authorization" in recorder.requests[0].headers
    assert "authorization" not in recorder.requests[1].headers


async def test_mastodon_refuses_an_unsafe_instance_before_registering():
    recorder = Recorder(lambda request: json_response(200, {}))
    async with recorder.client() as client:
        adapter = MastodonAdapter(
            MastodonSettings(),
            http_client=client,
            timeout=httpx.Timeout(1),
            resolver=FakeResolver({}),
        )
        for url in [
            "http://mastodon.social",
            "https://127.0.0.1",
            "https://[::1]",
            "https://10.0.0.1",
            "https://169.254.169.254",
        ]:
            with pytest.raises(UnsafeURLError):
                await adapter.start_authorization(
                    redirect_uri="https://app.example/cb", state="s", instance_url=url
                )
    assert recorder.requests == []
