"""Incidents: when a signal is news for the owner, and when it is the same incident again.

An account's life, as the notifier sees it, is a sequence of *episodes*: an episode ends when a
reported failure is resolved (the account recovered or was removed). Incident keys:

- `account:<id>:failed:<episode>` — the account left `connected`. Every later failure signal
  of the same episode (an escalation, a repeated sweep, another run of the daily check finding
  it still broken, a copy with a new event id) is the same incident. The check run is not part
  of the key: a dead account found by each day's run is one incident, not one a day; the run
  groups the e-mail (one summary per workspace per run) instead.
- `account:<id>:recovered:<episode>` — "working again", only after a failure was reported.
- `reminder:<id>:<threshold>:<token expiry>` — one reconnect reminder per threshold (14, 3 days)
  per token; a reconnect brings a new expiry, so the next token gets its reminders again.
- `post:<delivery id>` — one post's delivery to one account failed (the stuck-post sweep's
  `failed` decision and the publisher's `post.failed` are the same incident). Failures of one
  account within the cooldown are grouped into one notification and one e-mail.

Keys are stored under a unique constraint (the guarantee against duplicates, whichever replica
or batch sees a copy). Signals about one account from different topics are not ordered by
Kafka, so each account keeps `cleared_at`, the newest time it was known fine (a recovery) or
gone (a removal): a failure dated at or before it is stale (it was already resolved when we
heard of it) and is dropped. The caller holds the account's row lock while `plan` runs, so
failure and recovery of one account never interleave.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from notifier.domain.kinds import Kind, Template, platform_name
from notifier.domain.signals import (
    AccountFailed,
    AccountGone,
    AccountRecovered,
    AccountSeen,
    PostFailure,
    ReconnectReminder,
    Signal,
)
from notifier.domain.texts import title_and_body

__all__ = [
    "AccountState",
    "Audience",
    "DeliveryStatus",
    "EmailPlan",
    "NotificationDraft",
    "OpenFailure",
    "Plan",
    "PostAppend",
    "PostGroup",
    "Rules",
    "failure_key",
    "plan",
    "post_key",
    "recovery_key",
    "reminder_key",
]

DeliveryStatus = Literal["held", "pending", "sending", "sent", "failed", "superseded"]
# A failure's e-mail in one of these states has reached (or is reaching) the owner: only then
# is a recovery worth an e-mail of its own.
_GONE_OUT: frozenset[str] = frozenset({"sending", "sent"})
_NOT_YET_OUT: frozenset[str] = frozenset({"held", "pending"})


def failure_key(account_id: uuid.UUID, episode: int) -> str:
    return f"account:{account_id}:failed:{episode}"


def recovery_key(account_id: uuid.UUID, episode: int) -> str:
    return f"account:{account_id}:recovered:{episode}"


def reminder_key(account_id: uuid.UUID, reminder_days: int | None, expires_at: datetime) -> str:
    threshold = reminder_days if reminder_days is not None else "due"
    return f"reminder:{account_id}:{threshold}:{expires_at.isoformat(timespec='seconds')}"


def post_key(delivery_id: uuid.UUID) -> str:
    return f"post:{delivery_id}"


def static_key(signal: Signal) -> str | None:
    """The key of a signal whose incident does not depend on the account's state (reminders,
    post failures): claimed before planning, so a copy never reaches `plan`."""
    if isinstance(signal, ReconnectReminder):
        return reminder_key(signal.account_id, signal.reminder_days, signal.expires_at)
    if isinstance(signal, PostFailure):
        return post_key(signal.delivery_id)
    return None


@dataclass(frozen=True)
class Rules:
    """Timing rules (from settings)."""

    post_cooldown: timedelta = timedelta(hours=1)
    post_settle_s: float = 60.0
    digest_settle_s: float = 60.0
    posts_kept: int = 20  # post entries a group notification lists; the count goes on


@dataclass
class OpenFailure:
    notification_id: uuid.UUID
    at: datetime
    delivery_id: uuid.UUID | None
    delivery_status: DeliveryStatus | None
    in_digest: bool = False


@dataclass
class PostGroup:
    notification_id: uuid.UUID
    opened_at: datetime


@dataclass
class AccountState:
    """What the notifier remembers per account (one row, locked while a batch is planned)."""

    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    label: str | None = None
    episode: int = 0
    failure: OpenFailure | None = None
    cleared_at: datetime | None = None
    post_group: PostGroup | None = None


@dataclass(frozen=True)
class Audience:
    """Who may be e-mailed in a workspace: whether its owner is known, and their preferences."""

    owner_known: bool
    email_off: frozenset[Kind] = frozenset()

    def wants_email(self, kind: Kind) -> bool:
        return kind not in self.email_off


@dataclass(frozen=True)
class EmailPlan:
    template: Template
    status: Literal["held", "pending"]
    delay_s: float
    digest_key: str | None = None  # "run:<check run id>": joins the workspace's open digest
    delivery_id: uuid.UUID | None = None  # a delivery of its own (None for a digest)


@dataclass
class NotificationDraft:
    id: uuid.UUID
    workspace_id: uuid.UUID
    account_id: uuid.UUID | None
    kind: Kind
    incident_key: str
    occurred_at: datetime
    data: dict[str, Any]
    email: EmailPlan | None
    title: str = ""
    body: str = ""

    def render(self) -> None:
        self.title, self.body = title_and_body(self.kind, self.data)


@dataclass(frozen=True)
class PostAppend:
    """A failed post added to a group notification made by an earlier batch."""

    notification_id: uuid.UUID
    post: dict[str, Any]


@dataclass
class Plan:
    notifications: list[NotificationDraft] = field(default_factory=list)
    appended: list[PostAppend] = field(default_factory=list)
    resolved: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)
    superseded: list[uuid.UUID] = field(default_factory=list)
    states: dict[uuid.UUID, AccountState] = field(default_factory=dict)
    # State-dependent keys this plan claims (a conflict means the state was not what it said).
    keys: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)


def plan(
    signals: Sequence[Signal],
    states: Mapping[uuid.UUID, AccountState],
    audiences: Mapping[uuid.UUID, Audience],
    rules: Rules,
    *,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Plan:
    """Walk `signals` in order against the accounts' states; what to write, as one plan.

    `states` holds every account the signals name (locked by the caller); signals with a
    static key (`static_key`) must already be known fresh. Several signals about one account
    or one workspace in the same batch are applied one after the other, exactly as if they had
    come in separate batches.
    """
    walk = _Walk({k: replace(v) for k, v in states.items()}, audiences, rules, new_id, Plan())
    for signal in signals:
        walk.apply(signal)
    walk.result.states = walk.states
    for draft in walk.result.notifications:
        draft.render()
    return walk.result


@dataclass
class _Walk:
    states: dict[uuid.UUID, AccountState]
    audiences: Mapping[uuid.UUID, Audience]
    rules: Rules
    new_id: Callable[[], uuid.UUID]
    result: Plan
    _drafts: dict[uuid.UUID, NotificationDraft] = field(default_factory=dict)

    def apply(self, signal: Signal) -> None:
        state = self.states[signal.account_id]
        if isinstance(signal, AccountSeen):
            state.label = signal.label or state.label
            self.result.outcomes["seen"] += 1
        elif isinstance(signal, AccountFailed):
            self._failed(state, signal)
        elif isinstance(signal, AccountRecovered):
            self._recovered(state, signal)
        elif isinstance(signal, AccountGone):
            self._gone(state, signal)
        elif isinstance(signal, ReconnectReminder):
            self._reminder(state, signal)
        else:
            self._post_failed(state, signal)

    # -- account status ---------------------------------------------------------------------

    def _failed(self, state: AccountState, signal: AccountFailed) -> None:
        if state.cleared_at is not None and signal.at <= state.cleared_at:
            self.result.outcomes["stale"] += 1
            return
        if state.failure is not None:
            self.result.outcomes["same_incident"] += 1
            return
        digest = signal.check_run_id is not None
        data = self._account_data(state, fallback_label=signal.platform_account_id)
        data |= {"reason": signal.reason, "status": signal.status}
        if digest:
            data["check_run_id"] = str(signal.check_run_id)
        email = self._email(
            signal.workspace_id,
            "account_disconnected",
            digest_key=f"run:{signal.check_run_id}" if digest else None,
        )
        key = failure_key(state.account_id, state.episode)
        draft = self._draft(state, "account_disconnected", key, signal.at, data, email)
        state.failure = OpenFailure(
            notification_id=draft.id,
            at=signal.at,
            delivery_id=email.delivery_id if email else None,
            delivery_status=email.status if email else None,
            in_digest=digest,
        )
        self.result.outcomes["notified"] += 1

    def _recovered(self, state: AccountState, signal: AccountRecovered) -> None:
        failure = state.failure
        _clear(state, signal.at)
        if failure is None or failure.at > signal.at:
            # Nothing reported (or the failure we know is newer than this recovery): a
            # "working again" nobody asked about is noise.
            self.result.outcomes["nothing_to_recover"] += 1
            return
        key = recovery_key(state.account_id, state.episode)
        # The owner hears "working again" by e-mail only if they heard "broken" by e-mail; an
        # e-mail about the failure that has not gone out yet is withdrawn instead.
        told_by_mail = failure.delivery_status in _GONE_OUT
        email = self._email(signal.workspace_id, "account_recovered") if told_by_mail else None
        data = self._account_data(state) | {"via": signal.via}
        self._draft(state, "account_recovered", key, signal.at, data, email)
        self._close(state, failure, signal.at)
        self.result.outcomes["notified"] += 1

    def _gone(self, state: AccountState, signal: AccountGone) -> None:
        failure = state.failure
        _clear(state, signal.at)
        if failure is not None and failure.at <= signal.at:
            self._close(state, failure, signal.at)
        self.result.outcomes["removed"] += 1

    def _close(self, state: AccountState, failure: OpenFailure, at: datetime) -> None:
        self.result.resolved.append((failure.notification_id, at))
        if (
            failure.delivery_id is not None
            and not failure.in_digest
            and failure.delivery_status in _NOT_YET_OUT
        ):
            self.result.superseded.append(failure.delivery_id)
        state.episode += 1
        state.failure = None

    # -- reminders and posts ----------------------------------------------------------------

    def _reminder(self, state: AccountState, signal: ReconnectReminder) -> None:
        data = self._account_data(state) | {
            "expires_at": signal.expires_at.isoformat(),
            "reminder_days": signal.reminder_days,
        }
        email = self._email(signal.workspace_id, "reconnect_reminder")
        key = reminder_key(state.account_id, signal.reminder_days, signal.expires_at)
        self._draft(state, "reconnect_reminder", key, signal.at, data, email, static=True)
        self.result.outcomes["notified"] += 1

    def _post_failed(self, state: AccountState, signal: PostFailure) -> None:
        post = {
            "post_id": str(signal.post_id),
            "delivery_id": str(signal.delivery_id),
            "error": signal.error,
            "at": signal.at.isoformat(),
        }
        group = state.post_group
        if group is not None and abs(signal.at - group.opened_at) < self.rules.post_cooldown:
            draft = self._drafts.get(group.notification_id)
            if draft is not None:
                _append_post(draft.data, post, self.rules.posts_kept)
            else:
                self.result.appended.append(PostAppend(group.notification_id, post))
            self.result.outcomes["grouped"] += 1
            return
        data = self._account_data(state) | {"post_count": 0, "posts": []}
        _append_post(data, post, self.rules.posts_kept)
        email = self._email(signal.workspace_id, "posts_failed", delay_s=self.rules.post_settle_s)
        key = post_key(signal.delivery_id)
        draft = self._draft(state, "posts_failed", key, signal.at, data, email, static=True)
        state.post_group = PostGroup(draft.id, signal.at)
        self.result.outcomes["notified"] += 1

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _account_data(state: AccountState, fallback_label: str | None = None) -> dict[str, Any]:
        return {
            "platform": state.platform,
            "platform_name": platform_name(state.platform),
            "label": state.label or fallback_label,
        }

    def _email(
        self,
        workspace_id: uuid.UUID,
        kind: Kind,
        *,
        digest_key: str | None = None,
        delay_s: float = 0.0,
    ) -> EmailPlan | None:
        audience = self.audiences.get(workspace_id, Audience(owner_known=False))
        if not audience.wants_email(kind):
            return None
        status: Literal["held", "pending"] = "pending" if audience.owner_known else "held"
        if digest_key is not None:
            return EmailPlan(
                "connections_digest", status, self.rules.digest_settle_s, digest_key=digest_key
            )
        return EmailPlan(kind, status, delay_s, delivery_id=self.new_id())

    def _draft(
        self,
        state: AccountState,
        kind: Kind,
        key: str,
        at: datetime,
        data: dict[str, Any],
        email: EmailPlan | None,
        *,
        static: bool = False,
    ) -> NotificationDraft:
        draft = NotificationDraft(
            id=self.new_id(),
            workspace_id=state.workspace_id,
            account_id=state.account_id,
            kind=kind,
            incident_key=key,
            occurred_at=at,
            data=data,
            email=email,
        )
        self.result.notifications.append(draft)
        self._drafts[draft.id] = draft
        if not static:
            self.result.keys.append(key)
        return draft


def _clear(state: AccountState, at: datetime) -> None:
    """The account was known fine (or gone) at `at`: failures dated earlier are stale."""
    if state.cleared_at is None or at > state.cleared_at:
        state.cleared_at = at


def _append_post(data: dict[str, Any], post: dict[str, Any], kept: int) -> None:
    data["post_count"] = int(data.get("post_count", 0)) + 1
    data["posts"] = [*data.get("posts", []), post][-kept:]
    if post.get("error"):
        data["last_error"] = post["error"]


def append_posts(
    data: Mapping[str, Any], posts: Iterable[dict[str, Any]], kept: int
) -> dict[str, Any]:
    """A group notification's data with `posts` added (for groups made by an earlier batch)."""
    updated = dict(data)
    for post in posts:
        _append_post(updated, post, kept)
    return updated
