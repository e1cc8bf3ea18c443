"""The due rules per refresh model, the reminder thresholds and the failure bookkeeping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from mooring.accounts.model import Account, Credentials
from mooring.events.account import AccountDisconnected
from mooring.platforms.descriptions import DESCRIPTIONS, RefreshModel
from mooring.platforms.registry import get_description
from token_keeper.config import Settings
from token_keeper.domain.failures import FailureRules, record_policy, record_transient
from token_keeper.domain.windows import (
    RefreshRules,
    TokenFacts,
    effective_expiry,
    refresh_due,
    reminder_due,
    reminders_sent,
    valid_for,
    with_reminder_sent,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RULES = RefreshRules(
    lead=timedelta(minutes=30), sweep_interval=timedelta(hours=1), extend_window=timedelta(days=10)
)
FAILURES = FailureRules(
    cooldown=timedelta(minutes=5),
    max_backoff=timedelta(hours=1),
    give_up_after_days=3,
    policy_retry=timedelta(hours=6),
)


def facts(
    platform: str,
    *,
    expires_in: timedelta | None,
    age: timedelta = timedelta(hours=1),
    refresh_token: bool = True,
    next_refresh_in: timedelta | None = None,
) -> TokenFacts:
    return TokenFacts(
        platform=platform,
        expires_at=NOW + expires_in if expires_in is not None else None,
        issued_at=NOW - age,
        next_refresh_at=NOW + next_refresh_in if next_refresh_in is not None else None,
        has_refresh_token=refresh_token,
    )


@pytest.mark.parametrize("platform", ["x", "tiktok", "youtube", "pinterest", "bluesky"])
def test_refresh_token_platforms_are_due_within_the_lead_plus_the_sweep_interval(
    platform: str,
) -> None:
    assert refresh_due(facts(platform, expires_in=timedelta(minutes=89)), RULES, NOW)
    assert not refresh_due(facts(platform, expires_in=timedelta(minutes=91)), RULES, NOW)
    assert refresh_due(facts(platform, expires_in=-timedelta(minutes=1)), RULES, NOW)


def test_a_cooling_down_account_is_not_due_until_its_wait_is_over() -> None:
    cooling = facts("x", expires_in=timedelta(minutes=5), next_refresh_in=timedelta(minutes=3))
    assert not refresh_due(cooling, RULES, NOW)
    assert refresh_due(cooling, RULES, NOW + timedelta(minutes=3))


@pytest.mark.parametrize("platform", ["instagram", "threads"])
def test_extend_in_place_needs_24_hours_of_age_and_the_10_day_window(platform: str) -> None:
    old, young = timedelta(hours=25), timedelta(hours=23)
    assert refresh_due(facts(platform, expires_in=timedelta(days=9), age=old), RULES, NOW)
    assert not refresh_due(facts(platform, expires_in=timedelta(days=9), age=young), RULES, NOW)
    assert not refresh_due(facts(platform, expires_in=timedelta(days=11), age=old), RULES, NOW)


def test_never_expiring_tokens_are_never_due_nor_reminded() -> None:
    mastodon = facts("mastodon", expires_in=None)
    page = facts("facebook", expires_in=None)
    for f in (mastodon, page):
        assert effective_expiry(f.description, f.expires_at, f.issued_at) is None
        assert not refresh_due(f, RULES, NOW)
        assert reminder_due(f, RULES, NOW, set()) is None
        assert valid_for(f, timedelta(days=365), NOW)


def test_an_answer_without_expires_in_counts_the_documented_lifetime_from_its_issue() -> None:
    # X documents 2 h: issued 100 min ago without expires_in, it is due (not "never expires").
    silent = facts("x", expires_in=None, age=timedelta(minutes=100))
    expiry = effective_expiry(silent.description, silent.expires_at, silent.issued_at)
    assert expiry == NOW + timedelta(minutes=20)
    assert refresh_due(silent, RULES, NOW)
    assert not valid_for(silent, timedelta(minutes=30), NOW)


def test_every_platform_whose_tokens_expire_documents_a_lifetime() -> None:
    never = {d.identifier for d in DESCRIPTIONS if d.token_lifetime_seconds is None}
    assert never == {"facebook", "instagram-facebook", "mastodon"}
    assert get_description("x").token_lifetime_seconds == 2 * 3600
    assert get_description("linkedin").token_lifetime_seconds == 60 * 86400
    for d in DESCRIPTIONS:
        if d.refresh_model is RefreshModel.EXTEND_IN_PLACE:
            assert d.token_lifetime_seconds is not None


def test_linkedin_without_a_refresh_token_is_reminded_at_14_and_3_days_once_each() -> None:
    def at(days: float, sent: set[int]) -> int | None:
        f = facts("linkedin", expires_in=timedelta(days=days), refresh_token=False)
        return reminder_due(f, RULES, NOW, sent)

    assert at(20, set()) is None
    assert at(13, set()) == 14
    assert at(13, {14}) is None
    assert at(2, {14}) == 3
    assert at(2, {14, 3}) is None
    assert at(2, set()) == 3  # first seen late: only the most urgent reminder
    with_refresh = facts("linkedin", expires_in=timedelta(days=2))
    assert reminder_due(with_refresh, RULES, NOW, set()) is None  # refreshed instead
    assert not refresh_due(facts("linkedin", expires_in=timedelta(days=2), refresh_token=False),
                           RULES, NOW)  # fmt: skip


def test_reminders_are_remembered_per_token_not_per_exact_expiry() -> None:
    expiry = NOW + timedelta(days=13)
    meta = with_reminder_sent({"other": 1}, expiry, 14, RULES)
    assert meta["other"] == 1
    assert reminders_sent(meta, expiry + timedelta(hours=2)) == {14}
    assert reminders_sent(meta, expiry + timedelta(days=60)) == set()  # reconnected: new token
    assert reminders_sent(with_reminder_sent(meta, expiry, 3, RULES), expiry) == {14, 3}


def account(**fields: object) -> Account:
    return Account(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform="x",
        platform_account_id="1",
        credentials=Credentials(access_token=SecretStr("a"), refresh_token=SecretStr("r")),
        **fields,  # type: ignore[arg-type]
    )


def test_transient_failures_back_off_count_once_a_day_and_give_up_after_three_days() -> None:
    a = account()
    assert not record_transient(a, "http_503", retry_after=None, rules=FAILURES, now=NOW)
    assert a.next_refresh_at == NOW + timedelta(minutes=5)
    later = NOW + timedelta(minutes=6)
    assert not record_transient(a, "http_503", retry_after=None, rules=FAILURES, now=later)
    assert a.next_refresh_at == later + timedelta(minutes=10)  # doubled
    assert a.refresh_failures == 1  # the same day
    assert a.last_failure == "transient:http_503"
    assert a.status == "connected"
    # Retry-After longer than the back-off wins.
    day2 = NOW + timedelta(days=1)
    assert not record_transient(a, "http_429", retry_after=timedelta(hours=2), rules=FAILURES,
                                now=day2)  # fmt: skip
    assert a.next_refresh_at == day2 + timedelta(hours=2)
    assert a.refresh_failures == 2
    assert record_transient(a, "http_503", retry_after=None, rules=FAILURES,
                            now=NOW + timedelta(days=2))  # fmt: skip
    assert a.status == "token_expired"
    [event] = a.events
    assert isinstance(event, AccountDisconnected)
    assert event.reason == "refresh_failed"


def test_a_policy_refusal_is_recorded_never_counted_and_retried_when_the_platform_says() -> None:
    a = account()
    record_policy(a, "missing_scope", retry_after=None, rules=FAILURES, now=NOW)
    assert a.last_failure == "policy:missing_scope"
    assert a.next_refresh_at == NOW + timedelta(hours=6)
    assert a.refresh_failures == 0
    assert a.status == "connected"
    record_policy(a, "refresh_too_early", retry_after=timedelta(hours=3), rules=FAILURES, now=NOW)
    assert a.next_refresh_at == NOW + timedelta(hours=3)
    assert a.events == []


def test_settings_refuse_reminder_days_outside_a_token_life() -> None:
    with pytest.raises(ValueError, match="reminder days"):
        Settings(reminder_days=(0, 3))
    assert Settings(reminder_days=(3, 14, 3)).reminder_days == (14, 3)


def test_settings_refuse_a_batch_that_could_outlast_the_poll_interval() -> None:
    with pytest.raises(ValueError, match="poll interval"):
        Settings(worker_batch_size=5000, worker_concurrency=1)
    fits = Settings(worker_batch_size=128, worker_concurrency=32)
    assert fits.worker_batch_size == 128
