from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from mooring.platforms import Outcome, PlatformSettings, TokenSet, get_adapter
from mooring.platforms.classify import classify_response, parse_retry_after
from mooring.platforms.settings import HttpSettings
from mooring.platforms.signals import (
    bluesky_signals,
    google_signals,
    meta_signals,
    oauth_signals,
    pinterest_signals,
    tiktok_signals,
    x_signals,
)
from mooring.platforms.testing import Recorder, json_response

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def classify(response, signals=oauth_signals):
    return classify_response(response, signals=signals, now=NOW)


def test_retry_after_in_seconds_and_as_an_http_date():
    assert parse_retry_after("120", now=NOW) == timedelta(seconds=120)
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now=NOW) == timedelta(seconds=90)
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=NOW) == timedelta(0)
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


def test_429_is_transient_with_its_delay_whatever_the_body():
    verdict = classify(json_response(429, {"error": "invalid_grant"}, {"Retry-After": "30"}))
    assert verdict.outcome is Outcome.TRANSIENT
    assert verdict.retry_after == timedelta(seconds=30)


def test_x_rate_limit_reset_header_gives_the_delay():
    reset = int((NOW + timedelta(minutes=5)).timestamp())
    verdict = classify(json_response(429, {}, {"x-rate-limit-reset": str(reset)}))
    assert verdict.retry_after == timedelta(minutes=5)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(status):
    verdict = classify(httpx.Response(status, text="<html>bad gateway</html>"))
    assert verdict.outcome is Outcome.TRANSIENT
    assert verdict.reason == f"http_{status}"


def test_503_with_retry_after_carries_it():
    verdict = classify(httpx.Response(503, headers={"Retry-After": "7"}))
    assert verdict.retry_after == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("signals", "status", "body", "outcome", "reason"),
    [
        (oauth_signals, 400, {"error": "invalid_grant"}, Outcome.REVOKED, "invalid_grant"),
        (oauth_signals, 401, {"error": "invalid_client"}, Outcome.POLICY, "invalid_client"),
        (oauth_signals, 400, {"error": "invalid_request"}, Outcome.POLICY, "invalid_request"),
        (x_signals, 400, {"error": "invalid_request"}, Outcome.REVOKED, "invalid_request"),
        (oauth_signals, 401, {"message": "nope"}, Outcome.REVOKED, "http_401"),
        (oauth_signals, 403, {}, Outcome.POLICY, "http_403"),
        (
            meta_signals,
            400,
            {"error": {"type": "OAuthException", "code": 190, "error_subcode": 463}},
            Outcome.REVOKED,
            "meta_190",
        ),
        (
            meta_signals,
            400,
            {"error": {"type": "OAuthException", "code": 102}},
            Outcome.REVOKED,
            "meta_102",
        ),
        (
            meta_signals,
            400,
            {"error": {"type": "OAuthException", "code": 4}},
            Outcome.TRANSIENT,
            "rate_limited",
        ),
        (
            meta_signals,
            403,
            {"error": {"type": "OAuthException", "code": 200}},
            Outcome.POLICY,
            "missing_permission",
        ),
        (
            meta_signals,
            400,
            {"error": {"type": "OAuthException", "code": 100}},
            Outcome.POLICY,
            "http_400",
        ),
        (
            meta_signals,
            500,
            {"error": {"code": 2, "is_transient": True}},
            Outcome.TRANSIENT,
            "meta_2",
        ),
        (
            tiktok_signals,
            200,
            {"data": {}, "error": {"code": "access_token_invalid"}},
            Outcome.REVOKED,
            "access_token_invalid",
        ),
        (
            tiktok_signals,
            401,
            {"error": {"code": "scope_not_authorized"}},
            Outcome.POLICY,
            "scope_not_authorized",
        ),
        (tiktok_signals, 200, {"data": {}, "error": {"code": "ok"}}, Outcome.OK, "ok"),
        (
            tiktok_signals,
            400,
            {"error": "invalid_grant", "error_description": "x"},
            Outcome.REVOKED,
            "invalid_grant",
        ),
        (bluesky_signals, 400, {"error": "ExpiredToken"}, Outcome.REVOKED, "ExpiredToken"),
        (bluesky_signals, 400, {"error": "InvalidToken"}, Outcome.REVOKED, "InvalidToken"),
        (bluesky_signals, 401, {"error": "AccountTakedown"}, Outcome.POLICY, "AccountTakedown"),
        (
            google_signals,
            403,
            {"error": {"code": 403, "errors": [{"reason": "quotaExceeded"}]}},
            Outcome.POLICY,
            "quota_exceeded",
        ),
        (
            google_signals,
            403,
            {"error": {"code": 403, "errors": [{"reason": "rateLimitExceeded"}]}},
            Outcome.TRANSIENT,
            "rate_limited",
        ),
        (
            pinterest_signals,
            401,
            {"code": 2, "message": "Authentication failed."},
            Outcome.REVOKED,
            "pinterest_2",
        ),
    ],
)
def test_platform_signals(signals, status, body, outcome, reason):
    verdict = classify(json_response(status, body), signals)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.RemoteProtocolError("eof"), "connection_error"),
    ],
)
async def test_transport_failures_are_transient_and_never_raw(error, reason):
    def fail(request):
        raise error

    recorder = Recorder(fail)
    # Retries without back-off waits: what is tested is the verdict, not the timing.
    settings = PlatformSettings(
        http=HttpSettings(retry_wait_initial_seconds=0, retry_wait_jitter_seconds=0)
    )
    async with recorder.client(settings.http) as client:
        adapter = get_adapter("x", settings, client)
        tokens = TokenSet(access_token=SecretStr("tok-secret-123"), issued_at=NOW)
        verdict = await adapter.verify(tokens)
    assert verdict.outcome is Outcome.TRANSIENT
    assert verdict.reason == reason
