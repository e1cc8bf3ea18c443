"""Google / YouTube: non-rotating refresh tokens, first-consent-only refresh tokens, channels."""


def _connect(sim, user="gina", **extra):
    params = {
        "scope": "https://www.googleapis.com/auth/youtube.upload "
        "https://www.googleapis.com/auth/youtube.readonly",
        "access_type": "offline",
        "client_id": "g-app",
        **extra,
    }
    back = sim.consent("/google/o/oauth2/v2/auth", user=user, **params)
    response = sim.http.post(
        "/google/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "client_id": "g-app",
            "client_secret": "gs",
            "redirect_uri": sim.redirect,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(sim, refresh_token):
    return sim.http.post(
        "/google/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "g-app",
            "client_secret": "gs",
        },
    )


def test_round_trip_refresh_does_not_rotate(sim):
    body = _connect(sim, prompt="consent")
    assert body["expires_in"] == 3599
    assert body["access_token"].startswith("ya29.")
    first = _refresh(sim, body["refresh_token"]).json()
    assert "refresh_token" not in first
    second = _refresh(sim, body["refresh_token"])
    assert second.status_code == 200
    channels = sim.http.get(
        "/google/youtube/v3/channels",
        params={"part": "id,snippet", "mine": "true"},
        headers={"Authorization": f"Bearer {second.json()['access_token']}"},
    ).json()
    assert channels["kind"] == "youtube#channelListResponse"
    assert len(channels["items"]) == 2
    assert channels["items"][0]["id"].startswith("UC")
    assert channels["items"][0]["snippet"]["title"] == "Gina"


def test_refresh_token_only_on_first_consent_unless_prompt_consent(sim):
    assert "refresh_token" in _connect(sim)
    assert "refresh_token" not in _connect(sim)
    assert "refresh_token" in _connect(sim, prompt="consent")


def test_revoked_refresh_token_is_invalid_grant_and_api_is_401(sim):
    body = _connect(sim)
    assert (
        sim.http.post("/google/revoke", params={"token": body["refresh_token"]}).status_code == 200
    )
    dead = _refresh(sim, body["refresh_token"])
    assert dead.status_code == 400
    assert dead.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    api = sim.http.get(
        "/google/youtube/v3/channels",
        params={"part": "id", "mine": "true"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert api.status_code == 401
    assert api.json()["error"]["status"] == "UNAUTHENTICATED"


def test_testing_mode_refresh_tokens_die_after_seven_days(sim):
    sim.control("POST", "/config", {"google_testing_mode": True})
    body = _connect(sim)
    sim.advance(7 * 86400 + 1)
    dead = _refresh(sim, body["refresh_token"])
    assert dead.json()["error"] == "invalid_grant"


def test_channels_set_by_control_and_tokeninfo(sim):
    sim.control("PUT", "/users/youtube/gina", {"channels": [{"id": "UCone", "title": "One"}]})
    body = _connect(sim)
    items = sim.http.get(
        "/google/youtube/v3/channels",
        params={"part": "snippet", "mine": "true"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    ).json()["items"]
    assert [i["id"] for i in items] == ["UCone"]
    info = sim.http.get("/google/tokeninfo", params={"access_token": body["access_token"]}).json()
    assert info["aud"] == "g-app"
    assert "youtube.upload" in info["scope"]
