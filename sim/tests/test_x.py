"""X: PKCE is mandatory, codes are single-use and short-lived, refresh tokens rotate."""

SCOPES = "tweet.read tweet.write users.read offline.access"
TOKEN = "/x/2/oauth2/token"


def _authorize(sim, user="alice", scope=SCOPES):
    verifier, challenge = sim.pkce()
    back = sim.consent(
        "/x/i/oauth2/authorize",
        user=user,
        scope=scope,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    return back, verifier


def _redeem(sim, code, verifier, redirect_uri=None):
    return sim.http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or sim.redirect,
            "code_verifier": verifier,
            "client_id": "mooring-app",
        },
    )


def _refresh(sim, refresh_token):
    return sim.http.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "mooring-app",
        },
    )


def _connect(sim, user="alice"):
    back, verifier = _authorize(sim, user)
    return back, verifier, _redeem(sim, back["code"], verifier)


def test_consent_code_token_refresh_profile_round_trip(sim):
    back, _, response = _connect(sim)
    assert back["state"] == "st-1"
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert set(body["scope"].split()) == set(SCOPES.split())
    refreshed = _refresh(sim, body["refresh_token"])
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"]
    me = sim.http.get("/x/2/users/me", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["username"] == "alice"


def test_used_refresh_token_is_dead(sim):
    _, _, response = _connect(sim)
    old = response.json()["refresh_token"]
    assert _refresh(sim, old).status_code == 200
    again = _refresh(sim, old)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }


def test_confidential_client_uses_basic_auth_and_missing_auth_is_401(sim):
    _, _, response = _connect(sim)
    refresh = response.json()["refresh_token"]
    missing = sim.http.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized_client"
    basic = sim.http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=("mooring-app", "secret"),
    )
    assert basic.status_code == 200


def test_pkce_is_required_and_checked(sim):
    no_pkce = sim.http.get(
        "/x/i/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "c",
            "redirect_uri": sim.redirect,
            "sim_user": "a",
            "sim_decision": "approve",
        },
    )
    assert no_pkce.status_code == 400
    back, _ = _authorize(sim)
    wrong = _redeem(sim, back["code"], "not-the-verifier")
    assert wrong.status_code == 400


def test_code_is_single_use_and_redirect_must_match(sim):
    back, verifier, first = _connect(sim)
    assert first.status_code == 200
    reuse = _redeem(sim, back["code"], verifier)
    assert reuse.status_code == 400
    back, verifier = _authorize(sim)
    other = _redeem(sim, back["code"], verifier, redirect_uri="http://127.0.0.1:1/other")
    assert other.status_code == 400


def test_code_expires_after_30_seconds(sim):
    back, verifier = _authorize(sim)
    sim.advance(31)
    late = _redeem(sim, back["code"], verifier)
    assert late.status_code == 400


def test_access_token_expires_after_two_hours_and_revoke_kills_it(sim):
    _, _, response = _connect(sim)
    body = response.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert sim.http.get("/x/2/users/me", headers=headers).status_code == 200
    sim.advance(7201)
    expired = sim.http.get("/x/2/users/me", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["title"] == "Unauthorized"
    revoked = sim.http.post(
        "/x/2/oauth2/revoke", data={"token": body["refresh_token"], "client_id": "mooring-app"}
    )
    assert revoked.json() == {"revoked": True}
    dead = _refresh(sim, body["refresh_token"])
    assert dead.status_code == 400


def test_no_refresh_token_without_offline_access(sim):
    back, verifier = _authorize(sim, scope="tweet.read users.read")
    body = _redeem(sim, back["code"], verifier).json()
    assert "refresh_token" not in body
