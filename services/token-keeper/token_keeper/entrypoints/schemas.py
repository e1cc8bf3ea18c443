"""What the on-demand route answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from token_keeper.service_layer.tokens import IssuedToken

__all__ = ["TokenOut"]


class TokenOut(BaseModel):
    access_token: str = Field(description="The platform access token: the point of this route.")
    expires_at: datetime | None = Field(
        description="When it expires (at least the service's margin from now); null when the "
        "platform's tokens do not expire."
    )
    platform: str
    service_url: str | None = Field(
        default=None,
        description="The per-account API base for platforms without a fixed host (Bluesky "
        "PDS, Mastodon instance).",
    )

    @classmethod
    def of(cls, issued: IssuedToken) -> TokenOut:
        return cls(
            access_token=issued.access_token.get_secret_value(),
            expires_at=issued.expires_at,
            platform=issued.platform,
            service_url=issued.service_url,
        )
