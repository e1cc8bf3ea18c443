"""The notifier's rules, pure: incidents and their keys, texts, delivery outcomes, links."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notifier.domain.deliveries import Attempt, RetryPolicy, decide
from notifier.domain.incidents import (
    AccountState,
    Audience,
    OpenFailure,
    PostGroup,
    Rules,
    failure_key,
    plan,
    recovery_key,
    reminder_key,
    static_key,
)
from notifier.domain.links import Links, check_template
from notifier.domain.signals import (
    AccountFailed,
    AccountGone,
    AccountRecovered,
    AccountSeen,
    PostFailure,
    ReconnectReminder,
    clean_text,
)
from notifier.domain.texts import digest_subject, title_and_body

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
WS = uuid.uuid4()
OWNED = {WS: Audience(owner_known=True)}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def failed(account, minutes=0.0, run=None, reason="token_expired"):
    return AccountFailed(
        account, WS, "linkedin", at(minutes), "urn:li:1", reason, "token_expired", run
    )


def recovered(account, minutes=1.0, via="check"):
    return AccountRecovered(account, WS, "linkedin", at(minutes), via=via)


def states(*accounts, **fields):
    return {a: AccountState(a, WS, "linkedin", **fields) for a in accounts}


def test_a_failure_is_news_once_per_episode_whatever_else_reports_it():
    account = uuid.uuid4()
    result = plan(
        [failed(account), failed(account, 5), failed(account, 60 * 24, run=uuid.uuid4())],
        states(account),
        OWNED,
        Rules(),
    )
    [draft] = result.notifications
    assert draft.incident_key == failure_key(account, 0)
    assert draft.kind == "account_disconnected"
    assert draft.email is not None
    assert draft.email.status == "pending"
    assert draft.email.template == "account_disconnected"
    assert result.outcomes == {"notified": 1, "same_incident": 2}
    assert result.states[account].failure is not None
    assert result.keys == [failure_key(account, 0)]


def test_failure_recovery_failure_in_one_batch_are_three_notifications_in_two_episodes():
    account = uuid.uuid4()
    result = plan(
        [failed(account, 0), recovered(account, 1), failed(account, 2)],
        states(account),
        OWNED,
        Rules(),
    )
    keys = [d.incident_key for d in result.notifications]
    assert keys == [failure_key(account, 0), recovery_key(account, 0), failure_key(account, 1)]
    first, recovery, _ = result.notifications
    # The first failure's mail had not gone out: it is withdrawn, and "working again" is
    # told in-app only.
    assert first.email is not None
    assert result.superseded == [first.email.delivery_id]
    assert recovery.email is None
    assert result.resolved == [(first.id, at(1))]
    assert result.states[account].episode == 1


def test_working_again_is_mailed_only_when_the_failure_was():
    account = uuid.uuid4()
    mailed = OpenFailure(uuid.uuid4(), at(0), uuid.uuid4(), "sent")
    result = plan([recovered(account)], states(account, failure=mailed), OWNED, Rules())
    [draft] = result.notifications
    assert draft.kind == "account_recovered"
    assert draft.email is not None
    assert draft.email.template == "account_recovered"
    assert result.superseded == []

    in_app_only = OpenFailure(uuid.uuid4(), at(0), None, None)
    result = plan([recovered(account)], states(account, failure=in_app_only), OWNED, Rules())
    assert result.notifications[0].email is None


def test_a_recovery_nobody_was_told_about_says_nothing_and_makes_older_failures_stale():
    account = uuid.uuid4()
    result = plan(
        [recovered(account, 10, via="reconnected"), failed(account, 5), failed(account, 11)],
        states(account),
        OWNED,
        Rules(),
    )
    [draft] = result.notifications  # only the failure after the reconnect
    assert draft.occurred_at == at(11)
    assert result.outcomes["nothing_to_recover"] == 1
    assert result.outcomes["stale"] == 1


def test_a_removal_closes_the_incident_silently_and_withdraws_its_pending_mail():
    account = uuid.uuid4()
    delivery = uuid.uuid4()
    open_failure = OpenFailure(uuid.uuid4(), at(0), delivery, "held")
    result = plan(
        [AccountGone(account, WS, "linkedin", at(3))],
        states(account, failure=open_failure),
        OWNED,
        Rules(),
    )
    assert result.notifications == []
    assert result.superseded == [delivery]
    assert result.resolved == [(open_failure.notification_id, at(3))]


def test_the_daily_checks_failures_share_one_digest_per_workspace_and_run():
    run = uuid.uuid4()
    accounts = [uuid.uuid4() for _ in range(4)]
    result = plan(
        [failed(a, i, run=run) for i, a in enumerate(accounts)], states(*accounts), OWNED, Rules()
    )
    assert len(result.notifications) == 4
    assert {d.email.digest_key for d in result.notifications if d.email} == {f"run:{run}"}
    assert {d.email.template for d in result.notifications if d.email} == {"connections_digest"}


def test_no_owner_holds_the_mail_and_email_off_sends_none():
    account = uuid.uuid4()
    other_ws = uuid.uuid4()
    held = plan(
        [failed(account)], states(account), {WS: Audience(owner_known=False)}, Rules()
    ).notifications[0]
    assert held.email is not None
    assert held.email.status == "held"
    off = plan(
        [failed(account)],
        states(account),
        {WS: Audience(owner_known=True, email_off=frozenset({"account_disconnected"}))},
        Rules(),
    ).notifications[0]
    assert off.email is None
    del other_ws


def test_post_failures_group_within_the_cooldown_and_start_over_after_it():
    account = uuid.uuid4()
    rules = Rules(post_cooldown=timedelta(hours=1))

    def post(minutes, error="boom"):
        return PostFailure(account, WS, "linkedin", at(minutes), uuid.uuid4(), uuid.uuid4(), error)

    result = plan([post(0), post(10, "later"), post(70)], states(account), OWNED, rules)
    first, second = result.notifications
    assert first.data["post_count"] == 2
    assert first.data["last_error"] == "later"
    assert first.body == "2 posts could not be published to LinkedIn. Last error: later"
    assert second.data["post_count"] == 1
    assert result.outcomes == {"notified": 2, "grouped": 1}

    group = PostGroup(uuid.uuid4(), at(0))
    result = plan([post(30)], states(account, post_group=group), OWNED, rules)
    assert result.notifications == []
    assert [a.notification_id for a in result.appended] == [group.notification_id]


def test_reminder_keys_name_the_threshold_and_the_token_they_are_about():
    account = uuid.uuid4()
    expires = at(60 * 24 * 14)
    fourteen = ReconnectReminder(account, WS, "linkedin", at(0), expires, 14)
    three = ReconnectReminder(account, WS, "linkedin", at(0), expires, 3)
    next_token = ReconnectReminder(account, WS, "linkedin", at(0), expires + timedelta(days=60), 14)
    keys = {static_key(fourteen), static_key(three), static_key(next_token)}
    assert len(keys) == 3
    assert static_key(fourteen) == reminder_key(account, 14, expires)
    [draft] = plan([fourteen], states(account), OWNED, Rules()).notifications
    assert draft.title == "Reconnect your LinkedIn account within 14 days"
    assert "15 Nov 2026" in draft.body


def test_a_connect_names_the_account_in_later_messages():
    account = uuid.uuid4()
    result = plan(
        [AccountSeen(account, WS, "linkedin", at(0), "ACME Corp"), failed(account, 1)],
        states(account),
        OWNED,
        Rules(),
    )
    [draft] = result.notifications
    assert draft.data["label"] == "ACME Corp"
    assert draft.body.startswith('LinkedIn "ACME Corp" stopped working: its session expired.')


def test_clean_text_redacts_secrets_flattens_lines_and_bounds_length():
    cleaned = clean_text("401\r\nBcc: x@y.z Bearer abc.def-123 access_token=zzz " + "x" * 400)
    assert cleaned is not None
    assert "\n" not in cleaned
    assert "\r" not in cleaned
    assert "abc.def-123" not in cleaned
    assert "zzz" not in cleaned
    assert len(cleaned) <= 300
    assert cleaned.endswith("…")
    assert clean_text(None) is None
    assert clean_text(" \x00 ") is None


def test_texts_say_what_happened_and_the_digest_counts():
    title, body = title_and_body(
        "account_disconnected", {"platform": "youtube", "reason": "revoked", "label": None}
    )
    assert title == "YouTube account needs to be reconnected"
    assert (
        body
        == "YouTube stopped working: access to it was revoked. Reconnect it to keep publishing."
    )
    assert digest_subject([{"platform": "x"}] * 3) == "3 accounts need to be reconnected"
    assert digest_subject([{"platform": "x"}]) == "X account needs to be reconnected"


POLICY = RetryPolicy(
    initial=timedelta(seconds=5), maximum=timedelta(minutes=10), give_up_after=timedelta(days=3)
)


@pytest.mark.parametrize(
    ("attempt", "status"),
    [
        (Attempt(accepted=True), "sent"),
        (Attempt(accepted=False, stage="message", code=550), "failed"),
        (Attempt(accepted=False, stage="message", code=554), "failed"),
        (Attempt(accepted=False, stage="message", code=451), "pending"),
        (Attempt(accepted=False, stage="message", code=452), "pending"),
        (Attempt(accepted=False, stage="session", code=535), "pending"),
        (Attempt(accepted=False, stage="connect"), "pending"),
        (Attempt(accepted=False, stage="local"), "failed"),
    ],
)
def test_what_an_attempt_means_for_the_delivery(attempt, status):
    assert decide(attempt, attempts=1, age=timedelta(0), policy=POLICY).status == status


def test_transient_failures_back_off_up_to_a_cap_then_give_up_at_the_age_limit():
    delays = [POLICY.delay(n, jitter=1.0).total_seconds() for n in (1, 2, 3, 10, 50)]
    assert delays == [5, 10, 20, 600, 600]
    outage = Attempt(accepted=False, stage="connect")
    assert decide(outage, attempts=9, age=timedelta(days=2), policy=POLICY).status == "pending"
    gave_up = decide(outage, attempts=900, age=timedelta(days=3), policy=POLICY)
    assert (gave_up.status, gave_up.reason) == ("failed", "gave_up")


def test_link_templates_name_only_ids_and_lead_to_the_product():
    check_template("https://app.example/w/{workspace_id}/a/{account_id}")
    with pytest.raises(ValueError, match="may name only"):
        check_template("https://app.example/{token}")
    with pytest.raises(ValueError, match="http"):
        check_template("javascript:alert(1)")
    links = Links("https://a/{workspace_id}/{account_id}", "https://a/{workspace_id}", "https://p")
    ws, account = uuid.uuid4(), uuid.uuid4()
    assert links.reconnect_url(ws, account) == f"https://a/{ws}/{account}"


def test_settings_refuse_link_templates_that_could_not_be_filled():
    from pydantic import ValidationError

    from notifier.config import Settings

    with pytest.raises(ValidationError, match="may name only"):
        Settings(accounts_url_template="https://app.example/{workspace_id}/{account_id}")
    with pytest.raises(ValidationError, match="one e-mail address"):
        Settings(mail_from="Mooring <a@b>\r\nBcc: x@y.z")
    assert Settings(smtp_security="starttls").smtp_security == "starttls"
