"""Mastodon: per-instance app registration, OAuth on that instance, tokens that never expire."""


def _register(sim, instance="mastodon.social"):
    response = sim.http.post(
        f"/mastodon/{instance}/api/v1/apps",
        data={
            "client_name": "Mooring",
            "redirect_uris": sim.redirect,
            "scopes": "read:accounts write:statuses write:media",
            "website": "https://x.test",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_register_authorize_token_verify_revoke(sim):
    app = _register(sim)
    assert app["client_secret_expires_at"] == 0
    verifier, challenge = sim.pkce()
    back = sim.consent(
        "/mastodon/mastodon.social/oauth/authorize",
        user="hank",
        client_id=app["client_id"],
        scope="read:accounts write:statuses",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    token = sim.http.post(
        "/mastodon/mastodon.social/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": sim.redirect,
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert "expires_in" not in body
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    sim.advance(400 * 86400)
    me = sim.http.get("/mastodon/mastodon.social/api/v1/accounts/verify_credentials", headers=auth)
    assert me.json()["username"] == "hank"
    # Another instance does not know this token.
    other = sim.http.get("/mastodon/fosstodon.org/api/v1/accounts/verify_credentials", headers=auth)
    assert other.status_code == 401
    sim.http.post(
        "/mastodon/mastodon.social/oauth/revoke",
        data={
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "token": body["access_token"],
        },
    )
    gone = sim.http.get(
        "/mastodon/mastodon.social/api/v1/accounts/verify_credentials", headers=auth
    )
    assert gone.status_code == 401
    assert gone.json() == {"error": "The access token is invalid"}


def test_registrations_are_counted_per_instance_and_apps_are_per_instance(sim):
    app = _register(sim)
    _register(sim, "fosstodon.org")
    _register(sim, "fosstodon.org")
    assert sim.control("GET", "/mastodon/registrations") == {
        "mastodon.social": 1,
        "fosstodon.org": 2,
    }
    foreign = sim.http.get(
        "/mastodon/fosstodon.org/oauth/authorize",
        params={
            "client_id": app["client_id"],
            "redirect_uri": sim.redirect,
            "response_type": "code",
            "sim_user": "a",
            "sim_decision": "approve",
        },
    )
    assert foreign.status_code == 401


def test_vacuumed_app_gives_invalid_client(sim):
    app = _register(sim)
    back = sim.consent(
        "/mastodon/mastodon.social/oauth/authorize",
        client_id=app["client_id"],
        scope="read:accounts",
    )
    sim.control("DELETE", "/mastodon/mastodon.social/apps")
    token = sim.http.post(
        "/mastodon/mastodon.social/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": sim.redirect,
        },
    )
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"


def test_unregistered_redirect_uri_is_refused(sim):
    app = _register(sim)
    response = sim.http.get(
        "/mastodon/mastodon.social/oauth/authorize",
        params={
            "client_id": app["client_id"],
            "redirect_uri": "http://127.0.0.1:1/elsewhere",
            "response_type": "code",
            "sim_user": "a",
            "sim_decision": "approve",
        },
    )
    assert response.status_code == 400
