"""Bounded field types for request models: every string has a length and no control characters,
every platform is one of the twelve, every number a range.

Unbounded input was how a NUL byte reached PostgreSQL (a 500) and a huge number overflowed a
timedelta (another 500); a model built from these types refuses both with a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, StringConstraints

__all__ = [
    "PLATFORM_IDS",
    "PlatformId",
    "Text64",
    "Text256",
    "Text512",
    "Text2048",
    "no_control_characters",
]

PlatformId = Literal[
    "linkedin",
    "linkedin-page",
    "x",
    "facebook",
    "instagram",
    "instagram-facebook",
    "tiktok",
    "youtube",
    "threads",
    "pinterest",
    "bluesky",
    "mastodon",
]
PLATFORM_IDS: tuple[str, ...] = get_args(PlatformId)


def no_control_characters(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):  # noqa: PLR2004 - C0 controls, DEL
        raise ValueError("must not contain control characters")
    return value


_NoControls = AfterValidator(no_control_characters)

# Names, handles, identifiers on a platform.
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64), _NoControls]
Text256 = Annotated[str, StringConstraints(min_length=1, max_length=256), _NoControls]
Text512 = Annotated[str, StringConstraints(min_length=1, max_length=512), _NoControls]
# URLs (redirect URLs, instance URLs): checked for shape by the caller as well.
Text2048 = Annotated[str, StringConstraints(min_length=1, max_length=2048), _NoControls]
