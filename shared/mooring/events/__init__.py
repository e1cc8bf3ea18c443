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


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"
