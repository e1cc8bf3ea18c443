"""LinkedIn: non-rotating partner refresh tokens, organisation ACLs, version header on /rest."""

VERSION = {"LinkedIn-Version": "202601", "X-Restli-Protocol-Version": "2.0.0"}


def _connect(sim, user="carol"):
    back = sim.consent(
        "/linkedin/oauth/v2/authorization",
        user=user,
        scope="openid profile w_member_social w_organization_social rw_organization_admin",
    )
    response = sim.http.post(
        "/linkedin/oauth/v2/accessToken",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": sim.redirect,
            "client_id": "mooring-app",
            "client_secret": "s",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(sim, refresh_token):
    return sim.http.post(
        "/linkedin/oauth/v2/accessToken",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "mooring-app",
            "client_secret": "s",
        },
    )


def test_round_trip_with_non_rotating_refresh(sim):
    body = _connect(sim)
    assert body["expires_in"] == 5184000
    assert body["refresh_token_expires_in"] == 365 * 86400
    sim.advance(30 * 86400)
    refreshed = _refresh(sim, body["refresh_token"]).json()
    assert refreshed["refresh_token"] == body["refresh_token"]
    assert refreshed["access_token"] != body["access_token"]
    # The refresh token's clock runs from the first consent.
    assert refreshed["refresh_token_expires_in"] <= 335 * 86400
    info = sim.http.get(
        "/linkedin/v2/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json()["name"] == "Carol"
    again = _refresh(sim, body["refresh_token"])
    assert again.status_code == 200


def test_expired_token_is_401_with_service_error_code(sim):
    body = _connect(sim)
    sim.advance(5184001)
    response = sim.http.get(
        "/linkedin/v2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 401
    assert response.json()["serviceErrorCode"] == 65601


def test_revoked_refresh_is_invalid_grant(sim):
    body = _connect(sim)
    sim.control("POST", "/tokens/revoke", {"platform": "linkedin-page", "user": "carol"})
    response = _refresh(sim, body["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_organization_acls_list_only_administered_orgs(sim):
    body = _connect(sim)
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    no_version = sim.http.get("/linkedin/rest/organizationAcls?q=roleAssignee", headers=auth)
    assert no_version.status_code == 400
    acls = sim.http.get(
        "/linkedin/rest/organizationAcls",
        params={
            "q": "roleAssignee",
            "role": "ADMINISTRATOR",
            "state": "APPROVED",
            "projection": "(elements*(organization~(id,localizedName)))",
        },
        headers={**auth, **VERSION},
    ).json()
    assert len(acls["elements"]) == 2
    first = acls["elements"][0]
    assert first["organization"].startswith("urn:li:organization:")
    assert first["organization~"]["localizedName"] == "Carol Labs"
    sim.control(
        "PUT",
        "/users/linkedin-page/carol",
        {
            "orgs": [
                {"id": "111", "name": "Mine"},
                {"id": "222", "name": "Not mine", "role": "ANALYST"},
            ]
        },
    )
    acls = sim.http.get(
        "/linkedin/rest/organizationAcls",
        params={"q": "roleAssignee", "role": "ADMINISTRATOR"},
        headers={**auth, **VERSION},
    ).json()
    assert [e["organization"] for e in acls["elements"]] == ["urn:li:organization:111"]
    org = sim.http.get("/linkedin/rest/organizations/111", headers={**auth, **VERSION})
    assert org.json()["localizedName"] == "Mine"
    other = sim.http.get("/linkedin/rest/organizations/999", headers={**auth, **VERSION})
    assert other.status_code == 403


def test_self_serve_apps_get_no_refresh_token(sim):
    sim.control("POST", "/config", {"linkedin_refresh_tokens": False})
    body = _connect(sim)
    assert "refresh_token" not in body
    assert body["expires_in"] == 5184000
