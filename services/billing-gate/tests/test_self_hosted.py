"""Self-hosted deployments have no cap: the gate never denies, whatever the plan and usage."""

import uuid
from datetime import timedelta

import pytest

from billing_gate.domain.accounts import Identity
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.service_layer.gate import BillingGate
from billing_gate.service_layer.projection import UsageProjection
from mooring.db.engine import create_session_factory
from mooring.events import utcnow

pytestmark = pytest.mark.integration


async def test_self_hosted_never_denies(engine) -> None:
    sessions = create_session_factory(engine)
    catalogue = PlanCatalogue.from_limits({"starter": 5, "plus": 10}, default="starter")
    gate = BillingGate(
        sessions=sessions,
        catalogue=catalogue,
        mode="self_hosted",
        reservation_ttl=timedelta(minutes=15),
    )
    projection = UsageProjection(sessions=sessions, consumer="billing-gate-test")
    ws = uuid.uuid4()
    for i in range(12):
        await projection.account_connected(
            uuid.uuid4(),
            workspace_id=ws,
            account_id=uuid.uuid4(),
            identity=Identity("x", str(i)),
            connected_at=utcnow(),
        )
    decision = await gate.decision(ws)
    assert decision.allowed
    assert (decision.reason, decision.limit, decision.used) == ("unlimited", None, 12)
    outcome = await gate.reserve(ws, Identity("x", "new"))
    assert outcome.decision.allowed
    assert outcome.reservation is None  # nothing to hold when nothing caps
    usage = await gate.usage(ws)
    assert (usage.limit, usage.used, usage.upgrade_to) == (None, 12, None)
