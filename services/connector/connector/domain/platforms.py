"""The platform catalogue as the API shows it: `GET /v1/platforms`.

Built from the adapters' declarative descriptions, so the list cannot disagree with how the
connector actually connects each platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mooring.platforms.descriptions import AuthMethod, PlatformDescription
from mooring.platforms.registry import list_descriptions

__all__ = ["AuthKind", "PlatformInfo", "catalogue"]

AuthKind = Literal["oauth2", "app_password", "instance_oauth2"]

_AUTH: dict[AuthMethod, AuthKind] = {
    AuthMethod.OAUTH2: "oauth2",
    AuthMethod.APP_PASSWORD: "app_password",
    AuthMethod.PER_INSTANCE_OAUTH2: "instance_oauth2",
}


@dataclass(frozen=True)
class PlatformInfo:
    id: str
    display_name: str
    auth_method: AuthKind
    selection: bool
    selection_kind: str | None
    refresh_model: str
    pkce: bool
    account_types: tuple[str, ...]

    @classmethod
    def of(cls, description: PlatformDescription) -> PlatformInfo:
        return cls(
            id=description.identifier,
            display_name=description.display_name,
            auth_method=_AUTH[description.auth_method],
            selection=description.needs_selection,
            selection_kind=description.selection.value if description.needs_selection else None,
            refresh_model=description.refresh_model.value,
            pkce=description.pkce,
            account_types=tuple(t.value for t in description.account_types),
        )


def catalogue() -> tuple[PlatformInfo, ...]:
    return tuple(PlatformInfo.of(d) for d in list_descriptions())
