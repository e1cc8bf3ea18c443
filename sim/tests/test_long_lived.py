"""Instagram Login and Threads: extend-in-place long-lived tokens (≥ 24 h old, unexpired)."""

import pytest

CASES = [
    ("instagram", "ig_exchange_token", "ig_refresh_token", "instagram_business_basic"),
    ("threads", "th_exchange_token", "th_refresh_token", "threads_basic"),
]


def _long_token(sim, prefix, exchange, scope):
    back = sim.consent(f"/{prefix}/oauth/authorize", scope=scope, client_id="app")
    short = sim.http.post(
        f"/{prefix}/oauth/access_token",
        data={
            "client_id": "app",
            "client_secret": "sec",
            "grant_type": "authorization_code",
            "redirect_uri": sim.redirect,
            "code": back["code"],
        },
    )
    assert short.status_code == 200, short.text
    assert isinstance(short.json()["user_id"], int)
    long = sim.http.get(
        f"/{prefix}/access_token",
        params={
            "grant_type": exchange,
            "client_secret": "sec",
            "access_token": short.json()["access_token"],
        },
    )
    assert long.status_code == 200
    assert long.json()["expires_in"] == 5183944
    return long.json()["access_token"]


@pytest.mark.parametrize(("prefix", "exchange", "refresh", "scope"), CASES)
def test_refresh_refused_before_24h_allowed_after(sim, prefix, exchange, refresh, scope):
    token = _long_token(sim, prefix, exchange, scope)
    params = {"grant_type": refresh, "access_token": token}
    early = sim.http.get(f"/{prefix}/refresh_access_token", params=params)
    assert early.status_code == 400
    assert early.json()["error"]["code"] == 100
    sim.advance(25 * 3600)
    ok = sim.http.get(f"/{prefix}/refresh_access_token", params=params)
    assert ok.status_code == 200
    assert ok.json()["access_token"] == token
    assert ok.json()["expires_in"] == 5183944
    # Extended in place: 59 more days later it is still alive.
    sim.advance(59 * 86400)
    me = sim.http.get(
        f"/{prefix}/v25.0/me", params={"fields": "id,username", "access_token": token}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


@pytest.mark.parametrize(("prefix", "exchange", "refresh", "scope"), CASES)
def test_expired_token_cannot_be_refreshed(sim, prefix, exchange, refresh, scope):
    token = _long_token(sim, prefix, exchange, scope)
    sim.advance(61 * 86400)
    late = sim.http.get(
        f"/{prefix}/refresh_access_token", params={"grant_type": refresh, "access_token": token}
    )
    assert late.status_code == 400
    assert late.json()["error"]["code"] == 190


def test_redirect_carries_meta_fragment(sim):
    response = sim.http.get(
        "/threads/oauth/authorize",
        params={
            "client_id": "app",
            "redirect_uri": sim.redirect,
            "scope": "threads_basic",
            "response_type": "code",
            "sim_user": "a",
            "sim_decision": "approve",
        },
    )
    assert response.headers["location"].endswith("#_")


def test_instagram_code_errors_use_the_flat_shape(sim):
    bad = sim.http.post(
        "/instagram/oauth/access_token",
        data={
            "client_id": "app",
            "client_secret": "sec",
            "grant_type": "authorization_code",
            "redirect_uri": sim.redirect,
            "code": "nope",
        },
    )
    assert bad.status_code == 400
    assert bad.json()["error_type"] == "OAuthException"
