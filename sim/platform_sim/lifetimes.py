"""Token lifetimes per platform, in seconds, as each platform documents them.

The facts and the vendor pages they come from are in docs/platforms.md at the repository root.

They differ on purpose: Mooring must schedule from `expires_in`, never from one constant.
"""

from typing import Final

__all__ = [
    "BLUESKY_ACCESS",
    "BLUESKY_REFRESH",
    "BLUESKY_REFRESH_GRACE",
    "CODE_TTL",
    "DAY",
    "FACEBOOK_LONG",
    "FACEBOOK_SHORT",
    "GOOGLE_ACCESS",
    "GOOGLE_TESTING_REFRESH",
    "LINKEDIN_ACCESS",
    "LINKEDIN_REFRESH",
    "META_LONG",
    "META_MIN_AGE_TO_REFRESH",
    "META_SHORT",
    "PINTEREST_ACCESS",
    "PINTEREST_REFRESH",
    "TIKTOK_ACCESS",
    "TIKTOK_REFRESH",
    "X_ACCESS",
    "X_CODE_TTL",
]

DAY: Final = 86_400
CODE_TTL: Final = 600.0
X_CODE_TTL: Final = 30.0

LINKEDIN_ACCESS: Final = 60 * DAY  # 5184000
LINKEDIN_REFRESH: Final = 365 * DAY
X_ACCESS: Final = 7_200
FACEBOOK_SHORT: Final = 5_400
FACEBOOK_LONG: Final = 5_183_944
META_SHORT: Final = 3_600
META_LONG: Final = 5_183_944
META_MIN_AGE_TO_REFRESH: Final = DAY
TIKTOK_ACCESS: Final = 7_200
TIKTOK_REFRESH: Final = 180 * DAY  # 15552000
GOOGLE_ACCESS: Final = 3_599
GOOGLE_TESTING_REFRESH: Final = 7 * DAY
PINTEREST_ACCESS: Final = 30 * DAY  # 2592000
PINTEREST_REFRESH: Final = 60 * DAY  # 5184000
BLUESKY_ACCESS: Final = 120 * 60
BLUESKY_REFRESH: Final = 90 * DAY
BLUESKY_REFRESH_GRACE: Final = 2 * 3_600
