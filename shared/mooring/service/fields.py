"""Bounded field types for request models: every string has a length and no control characters,
every platform is one of the twelve, every number a range.

Unbounded input was how a NUL byte reached PostgreSQL (a 500) and a huge number overflowed a
timedelta (another 500); a model built from these types refuses both with a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints

__all__ = [
    "PLATFORM_IDS",
    "PlatformId",
    "Text64",
    "Text256",
    "Text512",
    "Text2048",
    "Timestamp",
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


def _text_not_number(value: object) -> object:
    if isinstance(value, (int, float)):  # bool is an int too
        raise ValueError(  # noqa: TRY004 - pydantic turns only ValueError into a 422
            "must be an ISO 8601 date-time string with an offset, not a number"
        )
    return value


# A timestamp a caller sends: an ISO 8601 string with an offset. Lax pydantic also takes a number
# as Unix seconds, so `0` would quietly mean 1970 — a typo should be a 422, not an old date.
# (Strict mode is no help: FastAPI validates the decoded body, where strict refuses strings too.)
Timestamp = Annotated[AwareDatetime, BeforeValidator(_text_not_number)]
