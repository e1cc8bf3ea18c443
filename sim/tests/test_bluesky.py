"""Bluesky: handle → DID → PDS, app-password sessions, refreshJwt rotation, createSession limit."""

import base64
import json

HANDLE = "frank.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"


def _session(sim, password=PASSWORD, handle=HANDLE):
    return sim.http.post(
        "/bluesky/xrpc/com.atproto.server.createSession",
        json={"identifier": handle, "password": password},
    )


def test_resolve_handle_did_document_points_back_at_the_pds(sim):
    did = sim.http.get(
        "/bluesky/xrpc/com.atproto.identity.resolveHandle", params={"handle": HANDLE}
    ).json()["did"]
    assert did.startswith("did:plc:")
    doc = sim.http.get(f"/bluesky/plc/{did}").json()
    service = doc["service"][0]
    assert service["id"] == "#atproto_pds"
    assert service["serviceEndpoint"] == f"{sim.url}/bluesky"
    assert doc["alsoKnownAs"] == [f"at://{HANDLE}"]


def test_session_round_trip_and_refresh_rotation_with_grace(sim):
    created = _session(sim)
    assert created.status_code == 200, created.text
    body = created.json()
    payload = body["accessJwt"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 7200
    me = sim.http.get(
        "/bluesky/xrpc/com.atproto.server.getSession",
        headers={"Authorization": f"Bearer {body['accessJwt']}"},
    )
    assert me.json()["handle"] == HANDLE
    old = {"Authorization": f"Bearer {body['refreshJwt']}"}
    new = sim.http.post("/bluesky/xrpc/com.atproto.server.refreshSession", headers=old).json()
    assert new["refreshJwt"] != body["refreshJwt"]
    # The used refresh token keeps a 2-hour grace, then dies.
    assert (
        sim.http.post("/bluesky/xrpc/com.atproto.server.refreshSession", headers=old).status_code
        == 200
    )
    sim.advance(2 * 3600 + 1)
    dead = sim.http.post("/bluesky/xrpc/com.atproto.server.refreshSession", headers=old)
    assert dead.status_code == 400
    assert dead.json()["error"] == "ExpiredToken"
    expired_access = sim.http.get(
        "/bluesky/xrpc/com.atproto.server.getSession",
        headers={"Authorization": f"Bearer {body['accessJwt']}"},
    )
    assert expired_access.json()["error"] == "ExpiredToken"
    wrong_kind = sim.http.post(
        "/bluesky/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {new['accessJwt']}"},
    )
    assert wrong_kind.json()["error"] == "InvalidToken"


def test_only_app_passwords_and_only_the_registered_one(sim):
    assert _session(sim, password="hunter2").status_code == 401
    assert _session(sim).status_code == 200
    wrong = _session(sim, password="zzzz-zzzz-zzzz-zzzz")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "AuthenticationRequired"


def test_create_session_is_rate_limited_per_account(sim):
    sim.control(
        "POST", "/config", {"bluesky_session_limit": 3, "bluesky_session_window_seconds": 300}
    )
    for _ in range(3):
        assert _session(sim).status_code == 200
    limited = _session(sim)
    assert limited.status_code == 429
    assert limited.json()["error"] == "RateLimitExceeded"
    assert 0 < int(limited.headers["retry-after"]) <= 300
    assert _session(sim, handle="other.bsky.social").status_code == 200
    sim.advance(301)
    assert _session(sim).status_code == 200


def test_control_registered_account_and_revoked_password(sim):
    sim.control("POST", "/config", {"bluesky_auto_register": False})
    unknown = sim.http.get(
        "/bluesky/xrpc/com.atproto.identity.resolveHandle", params={"handle": "nobody.bsky.social"}
    )
    assert unknown.status_code == 400
    sim.control("POST", "/bluesky/accounts", {"handle": HANDLE, "app_password": PASSWORD})
    body = _session(sim).json()
    sim.control(
        "POST", "/bluesky/accounts", {"handle": HANDLE, "app_password": "new1-new2-new3-new4"}
    )
    dead = sim.http.post(
        "/bluesky/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {body['refreshJwt']}"},
    )
    assert dead.json()["error"] == "InvalidToken"
    sim.control("POST", "/bluesky/accounts", {"handle": HANDLE, "status": "takendown"})
    taken = _session(sim, password="new1-new2-new3-new4")
    assert taken.json()["error"] == "AccountTakedown"


def _claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_a_main_password_opens_a_full_privilege_session_whatever_its_shape(sim):
    # The reference PDS takes the account password at createSession too; only the access
    # token's scope tells a client that it was not an app password.
    main = "wxyz-wxyz-wxyz-wxyz"
    sim.control("POST", "/bluesky/accounts", {"handle": HANDLE, "main_password": main})
    full = _session(sim, password=main)
    assert full.status_code == 200, full.text
    assert _claims(full.json()["accessJwt"])["scope"] == "com.atproto.access"
    refreshed = sim.http.post(
        "/bluesky/xrpc/com.atproto.server.refreshSession",
        headers=_bearer(full.json()["refreshJwt"]),
    ).json()
    assert _claims(refreshed["accessJwt"])["scope"] == "com.atproto.access"
    # The main password never becomes the account's app password, and an app password still
    # opens an app-password session.
    app = _session(sim)
    assert _claims(app.json()["accessJwt"])["scope"] == "com.atproto.appPass"
    sim.control(
        "POST", "/bluesky/accounts", {"handle": "b.bsky.social", "main_password": "hunter2"}
    )
    assert _session(sim, password="hunter2", handle="b.bsky.social").status_code == 200


def test_session_answers_say_when_the_account_is_not_active(sim):
    created = _session(sim).json()
    assert created["active"] is True
    assert "status" not in created
    sim.control("POST", "/bluesky/accounts", {"handle": HANDLE, "status": "deactivated"})
    again = _session(sim).json()
    assert (again["active"], again["status"]) == (False, "deactivated")
    refreshed = sim.http.post(
        "/bluesky/xrpc/com.atproto.server.refreshSession", headers=_bearer(created["refreshJwt"])
    ).json()
    assert (refreshed["active"], refreshed["status"]) == (False, "deactivated")
    me = sim.http.get(
        "/bluesky/xrpc/com.atproto.server.getSession", headers=_bearer(created["accessJwt"])
    ).json()
    assert (me["active"], me["status"]) == (False, "deactivated")


def test_a_pds_without_an_appview_cannot_answer_get_profile(sim):
    body = _session(sim).json()
    profile = sim.http.get(
        "/bluesky/xrpc/app.bsky.actor.getProfile",
        params={"actor": body["did"]},
        headers=_bearer(body["accessJwt"]),
    )
    assert profile.status_code == 200
    sim.control("POST", "/bluesky/accounts", {"handle": HANDLE, "appview": False})
    missing = sim.http.get(
        "/bluesky/xrpc/app.bsky.actor.getProfile",
        params={"actor": body["did"]},
        headers=_bearer(body["accessJwt"]),
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "InvalidRequest",
        "message": "No service configured for app.bsky.actor.getProfile",
    }
