"""The control API: faults, call counts, clock, token manipulation, consent page."""

import time

import httpx
import pytest


def test_health(sim):
    assert sim.http.get("/_control/health").json() == {"status": "ok"}


def test_5xx_injection_for_one_endpoint_and_clearing(sim):
    fault = sim.control(
        "POST",
        "/faults",
        {"platform": "x", "path": "/2/oauth2/token", "kind": "error", "status": 503},
    )
    failing = sim.http.post("/x/2/oauth2/token", data={"grant_type": "refresh_token"})
    assert failing.status_code == 503
    assert failing.json()["status"] == 503
    # Other endpoints of the platform are untouched.
    assert sim.http.get("/x/2/users/me").status_code == 401
    sim.http.delete(f"/_control/faults/{fault['id']}")
    assert sim.http.post("/x/2/oauth2/token", data={"grant_type": "x"}).status_code == 401


def test_whole_platform_error_with_times_limit(sim):
    sim.control(
        "POST", "/faults", {"platform": "youtube", "kind": "error", "status": 500, "times": 2}
    )
    assert sim.http.get("/google/youtube/v3/channels").status_code == 500
    assert sim.http.post("/google/token").status_code == 500
    assert sim.http.post("/google/token").status_code == 401


def test_429_carries_retry_after(sim):
    sim.control(
        "POST", "/faults", {"platform": "pinterest", "kind": "rate_limit", "retry_after": 17}
    )
    response = sim.http.get("/pinterest/v5/user_account")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "17"
    x_fault = {"platform": "x", "kind": "rate_limit", "retry_after": 5}
    sim.control("POST", "/faults", x_fault)
    limited = sim.http.get("/x/2/users/me")
    assert limited.headers["x-rate-limit-remaining"] == "0"


def test_hang_makes_the_client_time_out(sim):
    sim.control(
        "POST",
        "/faults",
        {"platform": "tiktok", "path": "/v2/oauth/token/", "kind": "hang", "seconds": 30},
    )
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sim.url}/tiktok/v2/oauth/token/", data={}, timeout=0.5)
    assert time.monotonic() - started < 5
    # The server itself stays responsive while a request hangs.
    assert sim.http.get("/_control/health").status_code == 200


def test_latency_delays_but_answers(sim):
    sim.control("POST", "/faults", {"platform": "mastodon", "kind": "latency", "seconds": 0.3})
    started = time.monotonic()
    response = sim.http.get("/mastodon/m.test/api/v1/accounts/verify_credentials")
    assert response.status_code == 401
    assert time.monotonic() - started >= 0.3


def test_call_counts_per_platform_and_path(sim):
    sim.http.get("/x/2/users/me")
    sim.http.get("/x/2/users/me")
    sim.http.post("/x/2/oauth2/token")
    sim.http.get("/mastodon/a.test/api/v1/accounts/verify_credentials")
    assert sim.control("GET", "/calls?platform=x") == {
        "x": {"/x/2/users/me": 2, "/x/2/oauth2/token": 1}
    }
    assert sim.control("GET", "/calls")["mastodon"] == {
        "/mastodon/a.test/api/v1/accounts/verify_credentials": 1
    }
    sim.http.delete("/_control/calls")
    assert sim.control("GET", "/calls") == {}


def test_consent_page_form_and_deny(sim):
    params = {
        "client_id": "app",
        "redirect_uri": sim.redirect,
        "response_type": "code",
        "state": "s1",
        "scope": "threads_basic",
    }
    page = sim.http.get("/threads/oauth/authorize", params=params)
    assert page.status_code == 200
    assert "<form" in page.text
    assert 'name="sim_decision"' in page.text
    posted = sim.http.post(
        "/threads/oauth/authorize",
        params=params,
        data={"sim_user": "ivy", "sim_decision": "approve"},
    )
    assert posted.status_code == 302
    assert "code=" in posted.headers["location"]
    denied = sim.consent("/linkedin/oauth/v2/authorization", decision="deny", state="s2")
    assert denied == {
        "error": "access_denied",
        "state": "s2",
        "error_description": "The user denied the request",
    }


def test_issue_expire_revoke_and_inspect_tokens(sim):
    tokens = sim.control("POST", "/tokens/issue", {"platform": "x", "user": "bench", "count": 3})[
        "tokens"
    ]
    assert len(tokens) == 3
    first = tokens[0]
    info = sim.control("GET", f"/tokens/{first['access_token']}")
    assert info["status"] == "ok"
    assert info["user"] == "bench"
    assert sim.control("POST", "/tokens/expire", {"token": first["access_token"]}) == {"expired": 1}
    auth = {"Authorization": f"Bearer {first['access_token']}"}
    assert sim.http.get("/x/2/users/me", headers=auth).status_code == 401
    revoked = sim.control("POST", "/tokens/revoke", {"platform": "x", "user": "bench"})
    assert revoked == {"revoked": 3}
    refresh = sim.http.post(
        "/x/2/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens[1]["refresh_token"],
            "client_id": "sim-client",
        },
    )
    assert refresh.status_code == 400


def test_secrets_lists_every_token_code_and_password_ever_issued(sim):
    issued = sim.control("POST", "/tokens/issue", {"platform": "x", "user": "scan"})["tokens"][0]
    sim.control("POST", "/tokens/revoke", {"platform": "x", "user": "scan"})
    code = sim.consent("/linkedin/oauth/v2/authorization", user="scan")["code"]
    sim.control(
        "POST",
        "/bluesky/accounts",
        {"handle": "scan.bsky.social", "app_password": "abcd-efgh-ijkl-mnop"},
    )
    listed = sim.control("GET", "/secrets")
    # Revoked tokens stay listed: a scan looks for everything that was ever handed out.
    assert {issued["access_token"], issued["refresh_token"]} <= set(listed["tokens"])
    assert code in listed["codes"]
    assert listed["passwords"] == ["abcd-efgh-ijkl-mnop"]
    sim.control("POST", "/reset")
    assert sim.control("GET", "/secrets") == {"tokens": [], "codes": [], "passwords": []}


def test_clock_and_reset(sim):
    before = sim.control("GET", "/clock")
    after = sim.control("POST", "/clock", {"advance_seconds": 90000})
    assert after["offset_seconds"] == 90000
    assert after["now"] - before["now"] >= 90000
    sim.control("POST", "/faults", {"platform": "x", "kind": "error"})
    sim.control("POST", "/reset")
    assert sim.control("GET", "/clock")["offset_seconds"] == 0
    assert sim.control("GET", "/faults") == {"faults": []}


def test_unknown_platform_is_404(sim):
    response = sim.http.post("/_control/faults", json={"platform": "myspace"})
    assert response.status_code == 404
