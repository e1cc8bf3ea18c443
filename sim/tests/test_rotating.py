"""TikTok and Pinterest: refresh tokens rotate; the used one stops working at once."""

import httpx


def _tiktok(sim):
    back = sim.consent(
        "/tiktok/v2/auth/authorize/", client_key="ck", scope="user.info.basic,video.publish"
    )
    response = sim.http.post(
        "/tiktok/v2/oauth/token/",
        data={
            "client_key": "ck",
            "client_secret": "cs",
            "code": back["code"],
            "grant_type": "authorization_code",
            "redirect_uri": sim.redirect,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_tiktok_round_trip_and_rotation(sim):
    body = _tiktok(sim)
    assert body["access_token"].startswith("act.")
    assert body["expires_in"] == 7200
    assert body["refresh_expires_in"] == 15552000
    assert body["scope"] == "user.info.basic,video.publish"
    data = {
        "client_key": "ck",
        "client_secret": "cs",
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
    }
    new = sim.http.post("/tiktok/v2/oauth/token/", data=data).json()
    assert new["refresh_token"] != body["refresh_token"]
    reused = sim.http.post("/tiktok/v2/oauth/token/", data=data)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    info = sim.http.get(
        "/tiktok/v2/user/info/",
        params={"fields": "open_id,display_name"},
        headers={"Authorization": f"Bearer {new['access_token']}"},
    ).json()
    assert info["error"]["code"] == "ok"
    assert info["data"]["user"]["open_id"] == body["open_id"]
    old = sim.http.get(
        "/tiktok/v2/user/info/",
        params={"fields": "open_id"},
        headers={"Authorization": "Bearer act.nope"},
    )
    assert old.status_code == 401
    assert old.json()["error"]["code"] == "access_token_invalid"


def test_tiktok_accepts_hex_pkce_challenge(sim):
    import hashlib

    verifier = "v" * 50
    back = sim.consent(
        "/tiktok/v2/auth/authorize/",
        client_key="ck",
        scope="user.info.basic",
        code_challenge=hashlib.sha256(verifier.encode()).hexdigest(),
        code_challenge_method="S256",
    )
    response = sim.http.post(
        "/tiktok/v2/oauth/token/",
        data={
            "client_key": "ck",
            "client_secret": "cs",
            "code": back["code"],
            "grant_type": "authorization_code",
            "redirect_uri": sim.redirect,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200


def _pinterest(sim):
    back = sim.consent(
        "/pinterest/oauth/", client_id="pin-app", scope="boards:read,pins:write,user_accounts:read"
    )
    response = sim.http.post(
        "/pinterest/v5/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": sim.redirect,
        },
        auth=("pin-app", "pin-secret"),
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_pinterest_continuous_refresh_rotates(sim):
    body = _pinterest(sim)
    assert body["access_token"].startswith("pina_")
    assert body["refresh_token"].startswith("pinr_")
    assert body["expires_in"] == 2592000
    assert body["refresh_token_expires_in"] == 5184000
    data = {
        "grant_type": "refresh_token",
        "refresh_token": body["refresh_token"],
        "continuous_refresh": "true",
    }
    new = sim.http.post("/pinterest/v5/oauth/token", data=data, auth=("pin-app", "pin-secret"))
    assert new.status_code == 200
    assert new.json()["response_type"] == "refresh_token"
    assert new.json()["refresh_token"] != body["refresh_token"]
    reused = sim.http.post("/pinterest/v5/oauth/token", data=data, auth=("pin-app", "pin-secret"))
    assert reused.status_code == 400
    account = sim.http.get(
        "/pinterest/v5/user_account",
        headers={"Authorization": f"Bearer {new.json()['access_token']}"},
    )
    assert account.json()["username"] == "alice"


def test_pinterest_requires_basic_auth(sim):
    response = httpx.post(
        f"{sim.url}/pinterest/v5/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
    )
    assert response.status_code == 401
    assert response.json() == {"code": 2, "message": "Authentication failed."}


def test_registered_client_secret_is_checked(sim):
    sim.control("PUT", "/clients/pinterest/pin-app", {"client_secret": "right"})
    wrong = sim.http.post(
        "/pinterest/v5/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=("pin-app", "wrong"),
    )
    assert wrong.status_code == 401
