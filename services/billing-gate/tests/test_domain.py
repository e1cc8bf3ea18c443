"""The pure core: plan catalogue, decisions and reservation states; no infrastructure."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_gate.config import Settings
from billing_gate.domain.accounts import Identity, IncompleteIdentityError, counts, frees_slot
from billing_gate.domain.decisions import decide
from billing_gate.domain.errors import ReservationConflictError, UnknownPlanError
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.domain.reservations import Reservation, check_confirmable, check_releasable
from billing_gate.domain.usage import usage_of

CATALOGUE = PlanCatalogue.from_limits(
    {"max": 100, "starter": 5, "pro": 30, "plus": 10}, default="starter"
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_plans_are_ordered_by_cap_and_the_upgrade_is_the_next_one_up() -> None:
    assert CATALOGUE.names == ("starter", "plus", "pro", "max")
    assert CATALOGUE.upgrade_after(CATALOGUE.get("starter")) == CATALOGUE.get("plus")
    assert CATALOGUE.upgrade_after(CATALOGUE.get("max")) is None


def test_unknown_plan_names_the_known_ones_and_unknown_stored_plans_fall_back() -> None:
    with pytest.raises(UnknownPlanError) as err:
        CATALOGUE.get("enterprise")
    assert err.value.known == ("starter", "plus", "pro", "max")
    assert CATALOGUE.get(" PRO ").name == "pro"
    assert CATALOGUE.effective(None).name == "starter"
    assert CATALOGUE.effective("retired-plan").name == "starter"


def test_below_the_cap_a_new_account_needs_a_slot() -> None:
    d = decide(CATALOGUE, "cloud", plan=CATALOGUE.get("starter"), used=3, reserved=1,
               known_identity=False)  # fmt: skip
    assert d.allowed
    assert d.needs_slot
    assert (d.limit, d.used, d.reserved) == (5, 3, 1)


def test_held_slots_count_against_the_cap() -> None:
    d = decide(CATALOGUE, "cloud", plan=CATALOGUE.get("starter"), used=4, reserved=1,
               known_identity=False)  # fmt: skip
    assert not d.allowed
    assert d.reason == "limit_reached"
    assert d.upgrade_to == "plus"


def test_a_reconnect_is_never_blocked_and_needs_no_slot() -> None:
    d = decide(CATALOGUE, "cloud", plan=CATALOGUE.get("starter"), used=9, reserved=0,
               known_identity=True)  # fmt: skip
    assert d.allowed
    assert d.reason == "known_identity"
    assert not d.needs_slot


def test_after_a_downgrade_the_hint_is_a_plan_that_would_admit_one_more() -> None:
    d = decide(CATALOGUE, "cloud", plan=CATALOGUE.get("starter"), used=12, reserved=0,
               known_identity=False)  # fmt: skip
    assert not d.allowed
    assert d.upgrade_to == "pro"  # plus (10) would still be full
    top = decide(CATALOGUE, "cloud", plan=CATALOGUE.get("max"), used=100, reserved=0,
                 known_identity=False)  # fmt: skip
    assert top.upgrade_to is None


def test_usage_and_the_402_give_the_same_upgrade_hint() -> None:
    starter = CATALOGUE.get("starter")
    refused = decide(CATALOGUE, "cloud", plan=starter, used=12, reserved=0, known_identity=False)
    read = usage_of(CATALOGUE, "cloud", plan=starter, used=12, reserved=0)
    assert refused.upgrade_to == read.upgrade_to == "pro"
    assert usage_of(CATALOGUE, "cloud", plan=starter, used=1, reserved=0).upgrade_to == "plus"


def test_an_identity_is_both_parts_or_neither() -> None:
    assert Identity.from_parts(None, None) is None
    assert Identity.from_parts("x", "1") == Identity("x", "1")
    for half in (("x", None), (None, "1")):
        with pytest.raises(IncompleteIdentityError):
            Identity.from_parts(*half)


def test_the_newest_of_connect_and_removal_decides_whether_an_account_counts() -> None:
    later = NOW + timedelta(minutes=1)
    assert counts(None, None)
    assert counts(NOW, None)
    assert not counts(NOW, later)
    assert not counts(NOW, NOW)
    assert counts(later, NOW)
    assert not counts(None, NOW)  # counted by a confirm, then removed


def test_only_a_removal_frees_a_slot() -> None:
    assert frees_slot("removed")
    assert not any(frees_slot(r) for r in ("token_expired", "revoked", "refresh_failed"))


def test_self_hosted_never_caps() -> None:
    d = decide(CATALOGUE, "self_hosted", plan=CATALOGUE.get("starter"), used=500, reserved=9,
               known_identity=False)  # fmt: skip
    assert d.allowed
    assert d.limit is None
    assert not d.needs_slot
    assert usage_of(CATALOGUE, "self_hosted", plan=CATALOGUE.get("starter"), used=7,
                    reserved=0).limit is None  # fmt: skip


def reservation(**changes: object) -> Reservation:
    base = Reservation(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform=None,
        platform_account_id=None,
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )
    return Reservation(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_reservation_states_read_expiry_from_the_clock() -> None:
    r = reservation()
    assert r.state(NOW) == "pending"
    assert r.state(NOW + timedelta(minutes=15)) == "expired"
    assert reservation(confirmed_at=NOW).state(NOW) == "confirmed"
    assert reservation(released_at=NOW, release_reason="released").state(NOW) == "released"
    assert reservation(released_at=NOW, release_reason="expired").state(NOW) == "expired"


def test_confirm_and_release_are_idempotent_and_refuse_the_opposite() -> None:
    later = NOW + timedelta(hours=1)
    assert check_confirmable(reservation(), NOW)
    assert check_confirmable(reservation(), later)  # the account exists: count it anyway
    assert not check_confirmable(reservation(confirmed_at=NOW), NOW)
    with pytest.raises(ReservationConflictError):
        check_confirmable(reservation(released_at=NOW, release_reason="released"), NOW)
    assert check_releasable(reservation(), NOW)
    assert not check_releasable(reservation(released_at=NOW, release_reason="released"), NOW)
    assert not check_releasable(reservation(), later)
    with pytest.raises(ReservationConflictError):
        check_releasable(reservation(confirmed_at=NOW), NOW)


def test_settings_take_tokens_as_csv_or_json_and_refuse_an_unknown_default_plan() -> None:
    assert [t.get_secret_value() for t in Settings(service_tokens="a, b").service_tokens] == [
        "a",
        "b",
    ]
    assert [t.get_secret_value() for t in Settings(service_tokens='["x"]').service_tokens] == ["x"]
    with pytest.raises(ValueError, match="default_plan"):
        Settings(default_plan="gold")
    assert Settings(plans={"Solo": 1, "Team": 20}, default_plan="solo").plans == {
        "solo": 1,
        "team": 20,
    }


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_GATE_SERVICE_TOKENS", "t1,t2")
    monkeypatch.setenv("BILLING_GATE_DEPLOYMENT_MODE", "self_hosted")
    monkeypatch.setenv("BILLING_GATE_PLANS", '{"starter": 2, "pro": 3}')
    settings = Settings()
    assert len(settings.service_tokens) == 2
    assert settings.deployment_mode == "self_hosted"
    assert settings.plans == {"starter": 2, "pro": 3}
