"""Between what adapters speak (`TokenSet`) and what an account stores (sealed `Credentials` plus
expiry columns). The one place the mapping lives, so every service stores tokens the same way."""

from __future__ import annotations

from pydantic import SecretStr

from mooring.accounts.model import Account, Credentials
from mooring.platforms.results import TokenSet

__all__ = ["credentials_from", "token_set_of"]


def credentials_from(
    tokens: TokenSet,
    *,
    previous: Credentials | None = None,
    extra: dict[str, SecretStr] | None = None,
) -> Credentials:
    """Credentials holding `tokens`; a refresh token the answer lacks is kept from `previous`
    (a stored refresh token is never replaced by an empty one), and so are its extra secrets
    unless `extra` replaces them."""
    return Credentials(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token or (previous.refresh_token if previous else None),
        scopes=tokens.scopes or (previous.scopes if previous else ()),
        extra=extra if extra is not None else (dict(previous.extra) if previous else {}),
    )


def token_set_of(account: Account) -> TokenSet:
    """What an adapter needs to refresh or verify the account's tokens."""
    access = account.credentials.access_token
    if access is None:
        raise ValueError(f"account {account.id} holds no access token")
    return TokenSet(
        access_token=access,
        refresh_token=account.credentials.refresh_token,
        issued_at=account.token_issued_at or account.created_at or account.updated_at,  # type: ignore[arg-type]
        expires_at=account.token_expires_at,
        refresh_expires_at=account.refresh_expires_at,
        scopes=account.credentials.scopes,
        service_url=account.service_url,
    )
