"""One platform end to end on the real infrastructure: X, from the start to the event on Kafka."""

import json
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest

from mooring.testing import header, read_topic

from .flows import callback, consent, landing_of, start

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]


async def test_x_connects_end_to_end_and_the_account_is_registered_counted_and_announced(stack):
    ws = uuid.uuid4()
    async with stack.client(ws) as client:
        started = await start(client, ws, "x")
        assert started.status_code == 201, started.text
        body = started.json()
        assert set(body) == {"connection_id", "authorization_url", "state", "expires_at"}
        authorize = urlsplit(body["authorization_url"])
        params = dict(parse_qsl(authorize.query))
        assert authorize.path == "/x/i/oauth2/authorize"
        assert params["state"] == body["state"]
        assert params["code_challenge_method"] == "S256"  # PKCE where the platform takes it
        assert params["redirect_uri"] == f"{stack.connector.url}/v1/oauth/x/callback"

        landing = landing_of(
            await callback(stack, await consent(body["authorization_url"], "xena"))
        )
        assert landing["connected"] == "x"
        account_id = landing["account_id"]

        account = await client.get(f"/v1/workspaces/{ws}/accounts/{account_id}")
        assert account.status_code == 200, account.text
        shown = account.json()
        assert (shown["platform"], shown["status"], shown["active"]) == ("x", "connected", True)
        assert shown["username"] == "xena"
        assert shown["token_expires_at"] is not None
        assert not any("token" in key and key != "token_expires_at" for key in shown)

        connection = await client.get(f"/v1/workspaces/{ws}/connections/{body['connection_id']}")
        assert connection.json()["status"] == "completed"
        assert connection.json()["account_ids"] == [account_id]

    (row,) = await stack.accounts_of(ws)
    assert str(row.id) == account_id
    assert bytes(row.credentials).startswith(b"M1")  # sealed by the vault
    (session,) = await stack.sql(
        "SELECT status, sealed, state_digest FROM connector_sessions WHERE id = :id",
        id=uuid.UUID(body["connection_id"]),
    )
    assert session.status == "completed"
    assert session.sealed is None  # the verifier went with the completed session
    assert body["state"].encode() not in bytes(session.state_digest)

    records = await read_topic(
        stack.kafka.bootstrap_servers,
        f"{stack.topic_prefix}account.connected",
        until=lambda rs: any(r.key == account_id.encode() for r in rs),
    )
    (event,) = [r for r in records if r.key == account_id.encode()]
    payload = json.loads(event.value)
    assert header(event, "ce_type") == "account.connected"
    assert (payload["workspace_id"], payload["platform"], payload["reconnected"]) == (
        str(ws), "x", False,
    )  # fmt: skip

    async with stack.client(base=stack.billing.url) as billing:
        usage = await billing.get(
            f"/internal/v1/workspaces/{ws}/usage",
            headers={"Authorization": f"Bearer {stack.service_token}"},
        )
    assert (usage.json()["used"], usage.json()["reserved"]) == (1, 0)  # confirmed, not held
