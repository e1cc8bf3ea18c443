"""The public event contract: one topic per event type, the type is the topic name."""

from __future__ import annotations

from mooring.events.account import (
    AccountConnected,
    AccountDisconnected,
    AccountUpdated,
    DisconnectReason,
)
from mooring.events.base import Envelope, Event, utcnow
from mooring.events.post import PostFailed, PostPublished, PostPublishing, PostStuck
from mooring.events.token import TokenExpiring, TokenRefreshed
from mooring.events.workspace import WorkspaceOwnerChanged, WorkspacePlanChanged

__all__ = [
    "ALL_EVENTS",
    "CONTRACT_SOURCES",
    "AccountConnected",
    "AccountDisconnected",
    "AccountUpdated",
    "DisconnectReason",
    "Envelope",
    "Event",
    "PostFailed",
    "PostPublished",
    "PostPublishing",
    "PostStuck",
    "TokenExpiring",
    "TokenRefreshed",
    "WorkspaceOwnerChanged",
    "WorkspacePlanChanged",
    "dlq_topic",
    "utcnow",
]

ALL_EVENTS: tuple[type[Event], ...] = (
    AccountConnected,
    AccountUpdated,
    AccountDisconnected,
    TokenExpiring,
    TokenRefreshed,
    PostStuck,
    WorkspacePlanChanged,
    WorkspaceOwnerChanged,
    PostPublishing,
    PostPublished,
    PostFailed,
)


# Who may publish what: the contract's producers, as ce_source values. Consumers accept these
# when MOORING_CONSUMER_ALLOWED_SOURCES is set from them (make run and the manifests do); the
# input events (workspace.*, post.publishing/published/failed) come from the platform, whose
# source each deployment names.
CONTRACT_SOURCES: dict[str, list[str]] = {
    "account.connected": ["mooring/connector"],
    "account.updated": ["mooring/connector", "mooring/token-keeper", "mooring/health-checker"],
    "account.disconnected": [
        "mooring/connector",
        "mooring/token-keeper",
        "mooring/health-checker",
    ],
    "token.expiring": ["mooring/token-keeper"],
    "token.refreshed": ["mooring/token-keeper", "mooring/health-checker"],
    "post.stuck": ["mooring/health-checker"],
}


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"
