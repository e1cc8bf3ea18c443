"""Inputs from the platform about workspaces; keyed by workspace id."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, EmailStr

from mooring.events.base import Event

__all__ = ["WorkspaceOwnerChanged", "WorkspacePlanChanged"]


class WorkspacePlanChanged(Event):
    event_type: ClassVar[str] = "workspace.plan_changed"
    key_field: ClassVar[str] = "workspace_id"

    schema_version: Literal[1] = 1
    workspace_id: uuid.UUID
    plan: str
    changed_at: AwareDatetime


class WorkspaceOwnerChanged(Event):
    event_type: ClassVar[str] = "workspace.owner_changed"
    key_field: ClassVar[str] = "workspace_id"

    schema_version: Literal[1] = 1
    workspace_id: uuid.UUID
    owner_user_id: uuid.UUID
    owner_email: EmailStr
    changed_at: AwareDatetime
