"""Post delivery events; keyed by post id so every delivery of one post is ordered."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime

from mooring.events.base import Event

__all__ = ["PostFailed", "PostPublished", "PostPublishing", "PostStuck"]


class _Delivery(Event):
    key_field: ClassVar[str] = "post_id"

    schema_version: Literal[1] = 1
    post_id: uuid.UUID
    delivery_id: uuid.UUID
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    attempt: int = 1
    at: AwareDatetime


class PostPublishing(_Delivery):
    event_type: ClassVar[str] = "post.publishing"


class PostPublished(_Delivery):
    event_type: ClassVar[str] = "post.published"


class PostFailed(_Delivery):
    event_type: ClassVar[str] = "post.failed"

    error: str | None = None


class PostStuck(Event):
    event_type: ClassVar[str] = "post.stuck"
    key_field: ClassVar[str] = "post_id"

    schema_version: Literal[1] = 1
    post_id: uuid.UUID
    delivery_id: uuid.UUID
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    decision: Literal["retry", "failed"]
    attempt: int
    publishing_since: AwareDatetime
    reason: str
