"""Facebook: short → long-lived user token, page tokens, Page-linked Instagram accounts."""


def _short_token(sim, user="dana"):
    back = sim.consent(
        "/facebook/v25.0/dialog/oauth",
        client_id="app",
        user=user,
        scope="pages_show_list,pages_manage_posts,instagram_basic",
    )
    response = sim.http.get(
        "/facebook/v25.0/oauth/access_token",
        params={
            "client_id": "app",
            "client_secret": "sec",
            "redirect_uri": sim.redirect,
            "code": back["code"],
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def _long_token(sim, short):
    response = sim.http.get(
        "/facebook/v25.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": "app",
            "client_secret": "sec",
            "fb_exchange_token": short,
        },
    )
    assert response.status_code == 200
    return response.json()


def test_short_to_long_lived_and_page_tokens_that_do_not_expire(sim):
    short = _short_token(sim)
    assert short["expires_in"] < 86400
    long = _long_token(sim, short["access_token"])
    assert long["expires_in"] == 5183944
    pages = sim.http.get(
        "/facebook/v25.0/me/accounts",
        params={
            "fields": "id,name,access_token,instagram_business_account",
            "access_token": long["access_token"],
        },
    ).json()["data"]
    assert len(pages) == 2
    assert "instagram_business_account" in pages[0]
    assert "instagram_business_account" not in pages[1]
    page_token = pages[0]["access_token"]
    info = sim.http.get(
        "/facebook/v25.0/debug_token",
        params={"input_token": page_token, "access_token": "app|sec"},
    ).json()["data"]
    assert info["type"] == "PAGE"
    assert info["expires_at"] == 0
    sim.advance(100 * 86400)
    me = sim.http.get(
        "/facebook/v25.0/me", params={"access_token": page_token, "fields": "id,name"}
    )
    assert me.status_code == 200
    assert me.json()["id"] == pages[0]["id"]
    ig_id = pages[0]["instagram_business_account"]["id"]
    ig = sim.http.get(
        f"/facebook/v25.0/{ig_id}", params={"access_token": page_token, "fields": "id,username"}
    )
    assert ig.json()["username"] == "dana.studio"
    # The user token itself is dead by now.
    dead = sim.http.get("/facebook/me", params={"access_token": long["access_token"]})
    assert dead.status_code == 400
    assert dead.json()["error"]["code"] == 190
    assert dead.json()["error"]["error_subcode"] == 463


def test_page_token_from_short_lived_user_token_expires(sim):
    short = _short_token(sim)
    pages = sim.http.get(
        "/facebook/me/accounts", params={"access_token": short["access_token"]}
    ).json()["data"]
    sim.advance(2 * 3600)
    me = sim.http.get("/facebook/me", params={"access_token": pages[0]["access_token"]})
    assert me.json()["error"]["code"] == 190


def test_expired_user_token_cannot_be_exchanged_and_code_is_single_use(sim):
    short = _short_token(sim)
    sim.advance(3 * 3600)
    failed = sim.http.get(
        "/facebook/v25.0/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": "app",
            "client_secret": "sec",
            "fb_exchange_token": short["access_token"],
        },
    )
    assert failed.json()["error"]["code"] == 190
    back = sim.consent("/facebook/v25.0/dialog/oauth", client_id="app", scope="pages_show_list")
    params = {
        "client_id": "app",
        "client_secret": "sec",
        "redirect_uri": sim.redirect,
        "code": back["code"],
    }
    assert sim.http.get("/facebook/v25.0/oauth/access_token", params=params).status_code == 200
    reused = sim.http.get("/facebook/v25.0/oauth/access_token", params=params).json()
    assert reused["error"]["code"] == 100
    assert reused["error"]["error_subcode"] == 36009


def test_pages_are_set_by_control_and_deauthorisation_kills_page_tokens(sim):
    sim.control(
        "PUT",
        "/users/instagram-facebook/erin",
        {
            "pages": [
                {
                    "id": "5001",
                    "name": "Only page",
                    "instagram": {"id": "17841400000000001", "username": "only.ig"},
                }
            ]
        },
    )
    long = _long_token(sim, _short_token(sim, user="erin")["access_token"])
    pages = sim.http.get(
        "/facebook/me/accounts",
        params={
            "access_token": long["access_token"],
            "fields": "id,access_token,instagram_business_account",
        },
    ).json()["data"]
    assert pages == [
        {
            "id": "5001",
            "access_token": pages[0]["access_token"],
            "instagram_business_account": {"id": "17841400000000001"},
        }
    ]
    gone = sim.http.delete(
        "/facebook/v25.0/me/permissions", params={"access_token": long["access_token"]}
    )
    assert gone.json() == {"success": True}
    me = sim.http.get("/facebook/me", params={"access_token": pages[0]["access_token"]})
    assert me.json()["error"]["code"] == 190
