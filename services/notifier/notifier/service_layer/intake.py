"""Taking signals in: from a batch of events to notifications and queued e-mail, in one transaction.

The steps, each one statement for the whole batch:

1. claim the incident keys that do not depend on an account's state (reminders, post
   failures): a copy of one (a redelivery, a repeated sweep, the same failure reported by two
   services) stops here;
2. create and lock the rows of the accounts the batch names (in id order), and read the
   workspaces' audiences (owner known? preferences);
3. plan (`domain.incidents.plan`): which signals are news, in batch order, so several events
   about one account or workspace in one batch come out as they would one batch each;
4. claim the keys the plan derived from the accounts' states (a conflict means the state and
   the keys disagree, and nothing is written);
5. open or join the digests, queue the single e-mails, insert the notifications, extend
   post-failure groups, resolve what recovered, withdraw e-mail that has not gone out and no
   longer should, and save the accounts' states.

The runtime marked the events in the inbox in this same transaction and commits after.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from notifier.adapters.port import AccountRef, DigestWanted, NewDelivery
from notifier.domain.errors import IncidentConflictError
from notifier.domain.incidents import Plan, Rules, append_posts, plan, static_key
from notifier.domain.signals import Signal
from notifier.domain.texts import title_and_body
from notifier.service_layer.unit_of_work import AbstractNotifierUnitOfWork

__all__ = ["take_in"]

logger = logging.getLogger(__name__)


async def take_in(uow: AbstractNotifierUnitOfWork, signals: Sequence[Signal], rules: Rules) -> Plan:
    """Apply `signals` (in order) inside `uow`; the plan that was written (its `outcomes`
    count what became of each signal). The caller commits."""
    kept, duplicates = await _fresh(uow, signals)
    if not kept:
        result = Plan()
        result.outcomes["duplicate"] += duplicates
        return result
    refs = [AccountRef(s.account_id, s.workspace_id, s.platform) for s in kept]
    states = await uow.notifications.lock_accounts(refs)
    audiences = await uow.directory.audiences(sorted({s.workspace_id for s in kept}))
    result = plan(kept, states, audiences, rules)
    result.outcomes["duplicate"] += duplicates

    if result.keys:
        fresh = await uow.notifications.claim_keys(result.keys)
        if taken := set(result.keys) - fresh:
            raise IncidentConflictError(sorted(taken))

    await _queue_and_insert(uow, result)
    await _extend_groups(uow, result, rules)
    await uow.notifications.resolve(result.resolved)
    await uow.deliveries.supersede(result.superseded)
    await uow.notifications.save_accounts(
        s for account_id, s in result.states.items() if s != states.get(account_id)
    )
    return result


async def _fresh(
    uow: AbstractNotifierUnitOfWork, signals: Sequence[Signal]
) -> tuple[list[Signal], int]:
    """The signals that are not a copy of an incident already seen, and how many were."""
    keys = [static_key(s) for s in signals]
    fresh = await uow.notifications.claim_keys([k for k in keys if k is not None])
    kept: list[Signal] = []
    for signal, key in zip(signals, keys, strict=True):
        if key is None:
            kept.append(signal)
        elif key in fresh:
            fresh.discard(key)  # a second copy in the same batch is a duplicate too
            kept.append(signal)
    return kept, len(signals) - len(kept)


async def _queue_and_insert(uow: AbstractNotifierUnitOfWork, result: Plan) -> None:
    drafts = result.notifications
    wanted = [
        DigestWanted(d.workspace_id, d.email.digest_key, d.email.status, d.email.delay_s)
        for d in drafts
        if d.email is not None and d.email.digest_key is not None
    ]
    digests = await uow.deliveries.open_digests(wanted)
    singles = [
        NewDelivery(
            d.email.delivery_id, d.workspace_id, d.email.template, d.email.status, d.email.delay_s
        )
        for d in drafts
        if d.email is not None and d.email.delivery_id is not None
    ]
    await uow.deliveries.add(singles)
    carried: dict[uuid.UUID, uuid.UUID] = {}
    for d in drafts:
        if d.email is None:
            continue
        if d.email.delivery_id is not None:
            carried[d.id] = d.email.delivery_id
        elif d.email.digest_key is not None:
            carried[d.id] = digests[d.workspace_id, d.email.digest_key]
    await uow.notifications.add(drafts, carried)


async def _extend_groups(uow: AbstractNotifierUnitOfWork, result: Plan, rules: Rules) -> None:
    if not result.appended:
        return
    posts: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for append in result.appended:
        posts[append.notification_id].append(append.post)
    rows = await uow.notifications.locked(list(posts))
    for notification_id, added in posts.items():
        row = rows.get(notification_id)
        if row is None:  # the group's notification is gone (never: nothing deletes them)
            logger.warning("post-failure group missing", extra={"id": str(notification_id)})
            continue
        data = append_posts(row.data, added, rules.posts_kept)
        title, body = title_and_body(row.kind, data)
        await uow.notifications.set_content(notification_id, data, title, body)
