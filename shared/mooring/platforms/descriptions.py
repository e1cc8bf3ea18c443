"""What each platform is, declaratively: the facts `GET /v1/platforms` and the services act on.

Nothing here talks to a platform; the adapters read these to decide how to connect and refresh.
Each value is what the platform's own OAuth documentation states: token lifetimes, whether
refresh tokens rotate, whether a selection of pages or channels follows the consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AccountType",
    "AuthMethod",
    "PlatformDescription",
    "RefreshModel",
    "SelectionStep",
]


class AuthMethod(StrEnum):
    OAUTH2 = "oauth2"
    APP_PASSWORD = "app_password"  # noqa: S105 - a method name, not a secret
    PER_INSTANCE_OAUTH2 = "per_instance_oauth2"


class RefreshModel(StrEnum):
    ROTATING = "rotating"  # a new refresh token on every refresh; the old one dies
    NON_ROTATING = "non_rotating"  # the refresh token stays; keep it when none comes back
    EXTEND_IN_PLACE = "extend_in_place"  # the long-lived access token itself is extended
    NONE = "none"  # no refresh: the user re-authorizes
    SESSION = "session"  # a session pair (Bluesky accessJwt/refreshJwt), rotated on refresh


class SelectionStep(StrEnum):
    NONE = "none"
    ORGANISATIONS = "organisations"
    PAGES = "pages"
    INSTAGRAM_VIA_PAGE = "instagram_via_page"
    CHANNELS = "channels"


class AccountType(StrEnum):
    PERSONAL = "personal"
    ORGANISATION = "organisation"
    PAGE = "page"
    BUSINESS = "business"  # Instagram professional (Business or Creator) account
    CHANNEL = "channel"


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformDescription:
    identifier: str
    display_name: str
    account_types: tuple[AccountType, ...]
    auth_method: AuthMethod
    scopes: tuple[str, ...]
    pkce: bool
    refresh_model: RefreshModel
    selection: SelectionStep
    # Refresh only once the token is this old (Instagram, Threads: 24 h), in seconds.
    refresh_min_age_seconds: int = 0
    # The access-token lifetime the platform documents, in seconds; None when its tokens do not
    # expire. Never used to schedule a token whose answer carried `expires_in`: only to keep a
    # token whose answer lacked it from being taken for "never expires" (nothing would refresh it).
    token_lifetime_seconds: int | None = None

    @property
    def needs_selection(self) -> bool:
        return self.selection is not SelectionStep.NONE

    @property
    def can_refresh(self) -> bool:
        return self.refresh_model is not RefreshModel.NONE


_HOUR = 60 * 60
_DAY = 24 * _HOUR

LINKEDIN = PlatformDescription(
    identifier="linkedin",
    display_name="LinkedIn",
    account_types=(AccountType.PERSONAL,),
    auth_method=AuthMethod.OAUTH2,
    scopes=("openid", "profile", "email", "w_member_social"),
    pkce=False,  # web apps: LinkedIn enables PKCE for native apps only, on request
    refresh_model=RefreshModel.NON_ROTATING,  # partner apps only; self-serve gets none
    selection=SelectionStep.NONE,
    token_lifetime_seconds=60 * _DAY,
)
LINKEDIN_PAGE = PlatformDescription(
    identifier="linkedin-page",
    display_name="LinkedIn Page",
    account_types=(AccountType.ORGANISATION,),
    auth_method=AuthMethod.OAUTH2,
    scopes=(
        "openid",
        "profile",
        "email",
        "w_member_social",
        "w_organization_social",
        "r_organization_social",
        "rw_organization_admin",
    ),
    pkce=False,
    refresh_model=RefreshModel.NON_ROTATING,
    selection=SelectionStep.ORGANISATIONS,
    token_lifetime_seconds=60 * _DAY,
)
X = PlatformDescription(
    identifier="x",
    display_name="X",
    account_types=(AccountType.PERSONAL,),
    auth_method=AuthMethod.OAUTH2,
    scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
    pkce=True,  # mandatory on X
    refresh_model=RefreshModel.ROTATING,
    selection=SelectionStep.NONE,
    token_lifetime_seconds=2 * _HOUR,
)
FACEBOOK = PlatformDescription(
    identifier="facebook",
    display_name="Facebook",
    account_types=(AccountType.PAGE,),
    auth_method=AuthMethod.OAUTH2,
    scopes=(
        "public_profile",
        "pages_show_list",
        "pages_manage_posts",
        "pages_read_engagement",
        "business_management",
    ),
    pkce=False,  # Meta's OIDC+PKCE flow is "still in testing"; the classic flow uses the secret
    refresh_model=RefreshModel.NONE,
    selection=SelectionStep.PAGES,
)
INSTAGRAM = PlatformDescription(
    identifier="instagram",
    display_name="Instagram",
    account_types=(AccountType.BUSINESS,),
    auth_method=AuthMethod.OAUTH2,
    scopes=("instagram_business_basic", "instagram_business_content_publish"),
    pkce=False,  # not documented for Instagram Login
    refresh_model=RefreshModel.EXTEND_IN_PLACE,
    selection=SelectionStep.NONE,
    refresh_min_age_seconds=_DAY,
    token_lifetime_seconds=60 * _DAY,
)
INSTAGRAM_FACEBOOK = PlatformDescription(
    identifier="instagram-facebook",
    display_name="Instagram (via Facebook Business)",
    account_types=(AccountType.BUSINESS,),
    auth_method=AuthMethod.OAUTH2,
    scopes=(
        "public_profile",
        "instagram_basic",
        "instagram_content_publish",
        "pages_show_list",
        "pages_read_engagement",
        "business_management",
    ),
    pkce=False,
    refresh_model=RefreshModel.NONE,
    selection=SelectionStep.INSTAGRAM_VIA_PAGE,
)
TIKTOK = PlatformDescription(
    identifier="tiktok",
    display_name="TikTok",
    account_types=(AccountType.PERSONAL,),
    auth_method=AuthMethod.OAUTH2,
    scopes=("user.info.basic", "video.publish", "video.upload"),
    pkce=False,  # TikTok uses PKCE for mobile/desktop apps only, not server-side web
    refresh_model=RefreshModel.ROTATING,
    selection=SelectionStep.NONE,
    token_lifetime_seconds=2 * _HOUR,
)
YOUTUBE = PlatformDescription(
    identifier="youtube",
    display_name="YouTube",
    account_types=(AccountType.CHANNEL,),
    auth_method=AuthMethod.OAUTH2,
    scopes=(
        "https://www.googleapis.com/auth/youtube.upload",
        "https://www.googleapis.com/auth/youtube.readonly",
    ),
    pkce=True,  # Google accepts S256 from web clients too
    refresh_model=RefreshModel.NON_ROTATING,
    selection=SelectionStep.CHANNELS,
    token_lifetime_seconds=_HOUR,
)
THREADS = PlatformDescription(
    identifier="threads",
    display_name="Threads",
    account_types=(AccountType.PERSONAL,),
    auth_method=AuthMethod.OAUTH2,
    scopes=("threads_basic", "threads_content_publish"),
    pkce=False,  # not documented for Threads
    refresh_model=RefreshModel.EXTEND_IN_PLACE,
    selection=SelectionStep.NONE,
    refresh_min_age_seconds=_DAY,
    token_lifetime_seconds=60 * _DAY,
)
PINTEREST = PlatformDescription(
    identifier="pinterest",
    display_name="Pinterest",
    account_types=(AccountType.PERSONAL, AccountType.BUSINESS),
    auth_method=AuthMethod.OAUTH2,
    scopes=("boards:read", "pins:read", "pins:write", "user_accounts:read"),
    pkce=False,  # the v5 token request schema has no code_verifier
    refresh_model=RefreshModel.ROTATING,  # continuous refresh: a new refresh token every time
    selection=SelectionStep.NONE,
    token_lifetime_seconds=30 * _DAY,
)
BLUESKY = PlatformDescription(
    identifier="bluesky",
    display_name="Bluesky",
    account_types=(AccountType.PERSONAL,),
    auth_method=AuthMethod.APP_PASSWORD,
    scopes=(),
    pkce=False,
    refresh_model=RefreshModel.SESSION,
    selection=SelectionStep.NONE,
    token_lifetime_seconds=2 * _HOUR,
)
MASTODON = PlatformDescription(
    identifier="mastodon",
    display_name="Mastodon",
    account_types=(AccountType.PERSONAL,),
    auth_method=AuthMethod.PER_INSTANCE_OAUTH2,
    scopes=("read:accounts", "write:statuses", "write:media"),
    pkce=True,  # Mastodon 4.3+, S256 only
    refresh_model=RefreshModel.NONE,  # tokens never expire
    selection=SelectionStep.NONE,
)

DESCRIPTIONS: tuple[PlatformDescription, ...] = (
    LINKEDIN,
    LINKEDIN_PAGE,
    X,
    FACEBOOK,
    INSTAGRAM,
    INSTAGRAM_FACEBOOK,
    TIKTOK,
    YOUTUBE,
    THREADS,
    PINTEREST,
    BLUESKY,
    MASTODON,
)
