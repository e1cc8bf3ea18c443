"""The retry policy, rule by rule, on `httpx.MockTransport` (attempts counted exactly)."""

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import stamina
from pydantic import SecretStr

from mooring.platforms import (
    PlatformUnavailableError,
    PolicyError,
    RateLimitedError,
    TokenSet,
    TransientError,
    get_adapter,
    get_oauth_adapter,
    new_http_client,
)
from mooring.platforms.http import PlatformHttp
from mooring.platforms.retry import RetryPolicy
from mooring.platforms.settings import HttpSettings
from mooring.platforms.signals import oauth_signals
from mooring.platforms.simulator import simulator_settings
from mooring.platforms.testing import ManualClock, Recorder, form_of, json_response

URL = "https://api.example/2/users/me"
TOKEN_URL = "https://api.example/2/oauth2/token"
# Tiny waits: the rules are what is tested here, not the clock.
FAST = HttpSettings(
    retry_attempts=3,
    retry_budget_seconds=5,
    retry_wait_initial_seconds=0.001,
    retry_wait_max_seconds=0.002,
    retry_wait_jitter_seconds=0.001,
)


class Script:
    """Answers (or raises) from a list, one per attempt; the last one repeats."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("scripted", request=request)
        if isinstance(step, int):
            return json_response(step, {})
        return step

    @property
    def attempts(self) -> int:
        return len(self.requests)


def platform_http(script: Script, settings: HttpSettings = FAST) -> PlatformHttp:
    client = new_http_client(settings, transport=httpx.MockTransport(script))
    return PlatformHttp(client, "x", oauth_signals, settings.timeout(), ManualClock())


def answer(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return json_response(status, {}, headers)


OK = json_response(200, {"data": {"id": "1"}})


# GET: transport errors, 5xx and 429 --------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [500, 502, 503, 504, 429, httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
)
async def test_a_get_is_retried_after_transport_errors_5xx_and_429(failure):
    script = Script(failure, failure, OK)
    assert await platform_http(script).call("GET", URL) == {"data": {"id": "1"}}
    assert script.attempts == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408])
async def test_a_get_is_not_retried_after_a_client_error(status):
    script = Script(status, OK)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the classification is tested elsewhere
        await platform_http(script).call("GET", URL)
    assert script.attempts == 1


async def test_attempts_come_from_the_settings_and_the_last_answer_is_classified():
    script = Script(503)
    with pytest.raises(PlatformUnavailableError) as caught:
        await platform_http(script, FAST.model_copy(update={"retry_attempts": 5})).call("GET", URL)
    assert script.attempts == 5
    assert caught.value.classification.reason == "http_503"


async def test_the_last_transport_error_is_raised_classified():
    script = Script(httpx.ReadTimeout)
    with pytest.raises(PlatformUnavailableError) as caught:
        await platform_http(script).call("GET", URL)
    assert script.attempts == 3
    assert caught.value.classification.reason == "timeout"


async def test_a_get_that_spends_something_can_be_marked_not_idempotent():
    script = Script(httpx.ReadTimeout, OK)
    with pytest.raises(TransientError):
        await platform_http(script).call("GET", URL, idempotent=False)
    assert script.attempts == 1


@pytest.mark.parametrize("error", [httpx.UnsupportedProtocol, httpx.LocalProtocolError])
async def test_our_own_mistakes_are_not_retried(error):
    script = Script(error, OK)
    with pytest.raises(TransientError):
        await platform_http(script).call("GET", URL)
    assert script.attempts == 1


# POST: only when it never left, or when the server said when to come back ------------------


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_a_post_that_never_left_is_retried(error):
    script = Script(error, OK)
    assert await platform_http(script).call("POST", TOKEN_URL, data={"a": "b"})
    assert script.attempts == 2


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
    ],
)
async def test_a_post_that_may_have_reached_the_platform_is_never_retried(error):
    # A rotating refresh token the platform did receive is spent: sending it again would get
    # invalid_grant, which reads as a revocation.
    script = Script(error, OK)
    with pytest.raises(PlatformUnavailableError):
        await platform_http(script).call("POST", TOKEN_URL, data={"refresh_token": "r"})
    assert script.attempts == 1


async def test_a_refresh_the_platform_processed_before_the_timeout_is_not_mistaken_for_a_revocation():
    # The platform rotates the token, then the answer is lost. Sent again, the spent refresh
    # token would get invalid_grant: the account would look revoked.
    spent: set[str] = set()

    def rotating(request: httpx.Request) -> httpx.Response:
        refresh = form_of(request)["refresh_token"]
        if refresh in spent:
            return json_response(400, {"error": "invalid_grant"})
        spent.add(refresh)
        raise httpx.ReadTimeout("answer lost", request=request)

    recorder = Recorder(rotating)
    client = new_http_client(FAST, transport=httpx.MockTransport(recorder))
    tokens = TokenSet(
        access_token=SecretStr("a"), refresh_token=SecretStr("r1"), issued_at=ManualClock().now
    )
    async with client:
        with pytest.raises(PlatformUnavailableError) as caught:
            await get_adapter("x", simulator_settings("http://sim.test"), client).refresh(tokens)
    assert caught.value.classification.reason == "timeout"
    assert len(recorder.requests) == 1


async def test_facebooks_code_exchange_is_a_get_that_is_never_sent_twice():
    recorder = Recorder(Script(httpx.ReadTimeout, OK))
    client = new_http_client(FAST, transport=httpx.MockTransport(recorder))
    async with client:
        facebook = get_oauth_adapter("facebook", simulator_settings("http://sim.test"), client)
        with pytest.raises(PlatformUnavailableError):
            await facebook.exchange_code(code="single-use", redirect_uri="https://app/cb")
    assert [(r.method, r.url.params["code"]) for r in recorder.requests] == [("GET", "single-use")]


@pytest.mark.parametrize(
    "first",
    [500, 502, 504, 503, 429, answer(500, "0"), answer(502, "0"), answer(503, "soon")],
    ids=["500", "502", "504", "503-bare", "429-bare", "500-ra", "502-ra", "503-bad-ra"],
)
async def test_a_post_answered_with_an_error_is_not_retried_unless_told_when(first):
    script = Script(first, OK)
    with pytest.raises(TransientError):
        await platform_http(script).call("POST", TOKEN_URL, data={"a": "b"})
    assert script.attempts == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_a_post_is_retried_when_the_server_says_when(status):
    script = Script(answer(status, "0"), OK)
    assert await platform_http(script).call("POST", TOKEN_URL, data={"a": "b"})
    assert script.attempts == 2


# Retry-After and the budget ----------------------------------------------------------------


async def test_retry_after_in_seconds_is_waited_for_when_it_fits_the_budget():
    script = Script(answer(429, "1"), OK)
    started = time.monotonic()
    assert await platform_http(script).call("GET", URL)
    assert script.attempts == 2
    assert time.monotonic() - started >= 0.95


async def test_retry_after_as_an_http_date_in_the_past_means_now():
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    script = Script(answer(503, past), OK)
    assert await platform_http(script).call("POST", TOKEN_URL, data={"a": "b"})
    assert script.attempts == 2


@pytest.mark.parametrize(
    "retry_after",
    ["30", format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)],
    ids=["seconds", "http-date"],
)
async def test_a_delay_longer_than_the_budget_is_handed_back_at_once(retry_after):
    script = Script(answer(429, retry_after), OK)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as caught:
        await platform_http(script).call("POST", TOKEN_URL, data={"a": "b"})
    assert time.monotonic() - started < 0.5
    assert script.attempts == 1
    assert caught.value.retry_after > timedelta(seconds=10)


async def test_a_503_with_a_long_retry_after_keeps_the_delay_in_its_classification():
    script = Script(answer(503, "60"), OK)
    with pytest.raises(PlatformUnavailableError) as caught:
        await platform_http(script).call("GET", URL)
    assert script.attempts == 1
    assert caught.value.retry_after == timedelta(seconds=60)


async def test_no_back_off_starts_that_would_end_past_the_budget():
    settings = FAST.model_copy(
        update={
            "retry_attempts": 10,
            "retry_budget_seconds": 1.0,
            "retry_wait_initial_seconds": 0.1,
            "retry_wait_max_seconds": 0.6,
            "retry_wait_jitter_seconds": 0,
        }
    )
    script = Script(503)
    started = time.monotonic()
    with pytest.raises(PlatformUnavailableError):
        await platform_http(script, settings).call("GET", URL)
    # Waits of 0.1, 0.2 and 0.4 s fit in the second; a fourth (0.6 s) would not.
    assert script.attempts == 4
    assert time.monotonic() - started < 1.0


async def test_the_policy_follows_the_client_unless_given():
    client = new_http_client(FAST, transport=httpx.MockTransport(Script(OK)))
    http = PlatformHttp(client, "x", oauth_signals, FAST.timeout(), ManualClock())
    assert http.retry_policy == RetryPolicy.from_settings(FAST)
    own = RetryPolicy(attempts=1)
    assert (
        PlatformHttp(client, "x", oauth_signals, FAST.timeout(), ManualClock(), own).retry_policy
        is own
    )
    plain = PlatformHttp(httpx.AsyncClient(), "x", oauth_signals, FAST.timeout(), ManualClock())
    assert plain.retry_policy == RetryPolicy.from_settings(HttpSettings())
    await client.aclose()
    await plain.client.aclose()


async def test_stamina_testing_mode_removes_the_waits():
    slow = FAST.model_copy(update={"retry_wait_initial_seconds": 5, "retry_wait_max_seconds": 5})
    script = Script(answer(503, "2"), 503, OK)
    started = time.monotonic()
    with stamina.set_testing(True, attempts=3, cap=True):
        assert await platform_http(script, slow).call("GET", URL)
    assert script.attempts == 3
    assert time.monotonic() - started < 1


async def test_retry_logs_carry_no_url_and_so_no_token(caplog):
    script = Script(503, OK)
    with caplog.at_level(logging.DEBUG):
        await platform_http(script).call("GET", f"{URL}?access_token=SECRET-TOKEN")
    assert script.attempts == 2
    # httpx's own INFO line has the URL: services raise its level and redact (mooring.logs).
    scheduled = [record for record in caplog.records if record.name == "stamina"]
    assert [record.getMessage() for record in scheduled] == ["stamina.retry_scheduled"]
    assert "SECRET-TOKEN" not in repr(scheduled[0].__dict__)


async def test_a_2xx_token_answer_carrying_an_unknown_error_is_policy_not_a_crash():
    recorder = Recorder(lambda request: json_response(200, {"error": "weird_thing"}))
    async with recorder.client() as client:
        adapter = get_adapter("x", simulator_settings("http://sim.test"), client)
        with pytest.raises(PolicyError) as caught:
            await adapter.refresh(
                TokenSet(
                    access_token=SecretStr("a"),
                    refresh_token=SecretStr("r"),
                    issued_at=ManualClock().now,
                )
            )
    assert caught.value.classification.reason == "token_error"
    assert caught.value.classification.detail == "weird_thing"
