"""Simulated platform users and what they can pick from (orgs, pages, channels)."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Channel",
    "InstagramAccount",
    "Org",
    "Page",
    "User",
    "UserDirectory",
    "stable_alnum",
    "stable_digits",
]


def _digest(seed: str) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")


def stable_digits(seed: str, length: int) -> str:
    """A numeric id that is the same for the same seed on every run (no leading zero)."""
    digits = str(_digest(seed))
    return ("1" + digits)[:length] if digits[0] == "0" else digits[:length]


_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def stable_alnum(seed: str, length: int, alphabet: str = _ALPHABET) -> str:
    n = _digest(seed)
    out = []
    for _ in range(length):
        n, rem = divmod(n, len(alphabet))
        out.append(alphabet[rem])
    return "".join(out)


@dataclass(slots=True)
class Org:
    id: str
    name: str
    vanity_name: str
    role: str = "ADMINISTRATOR"
    state: str = "APPROVED"


@dataclass(slots=True)
class InstagramAccount:
    id: str
    username: str
    name: str


@dataclass(slots=True)
class Page:
    id: str
    name: str
    category: str = "Brand"
    instagram: InstagramAccount | None = None


@dataclass(slots=True)
class Channel:
    id: str
    title: str
    custom_url: str


@dataclass(slots=True)
class User:
    provider: str
    name: str
    id: str
    display_name: str
    orgs: list[Org] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    disabled: bool = False

    @property
    def given_name(self) -> str:
        return self.display_name.split(" ")[0]

    @property
    def family_name(self) -> str:
        parts = self.display_name.split(" ", 1)
        return parts[1] if len(parts) > 1 else "Sim"


# Id formats follow each platform's look (numeric Graph ids, "UC…" channels, "-000…" open ids)
# so adapters that validate or log them see something plausible.
def _user_id(base: str, seed: str) -> str:
    match base:
        case "linkedin":
            return stable_alnum(seed, 10)
        case "x" | "pinterest" | "mastodon":
            return stable_digits(seed, 18)
        case "facebook" | "instagram" | "threads":
            return stable_digits(seed, 17)
        case "tiktok":
            return "-000" + stable_alnum(seed, 32, "abcdef0123456789")
        case "google":
            return stable_digits(seed, 21)
        case _:
            return stable_alnum(seed, 16)


def _default_user(provider: str, name: str) -> User:
    base = provider.split("/", 1)[0]
    seed = f"{provider}:{name}"
    display = name.replace(".", " ").replace("_", " ").title()
    user = User(provider=provider, name=name, id=_user_id(base, seed), display_name=display)
    if base == "linkedin":
        user.orgs = [
            Org(
                id=stable_digits(seed + ":org1", 8),
                name=f"{display} Labs",
                vanity_name=f"{name}-labs",
            ),
            Org(
                id=stable_digits(seed + ":org2", 8), name=f"{display} Co", vanity_name=f"{name}-co"
            ),
        ]
    elif base == "facebook":
        ig = InstagramAccount(
            id=stable_digits(seed + ":ig1", 17), username=f"{name}.studio", name=f"{display} Studio"
        )
        user.pages = [
            Page(id=stable_digits(seed + ":page1", 15), name=f"{display} Studio", instagram=ig),
            Page(
                id=stable_digits(seed + ":page2", 15), name=f"{display} Shop", category="Shopping"
            ),
        ]
    elif base == "google":
        user.channels = [
            Channel(
                id="UC" + stable_alnum(seed + ":ch1", 22), title=display, custom_url=f"@{name}"
            ),
            Channel(
                id="UC" + stable_alnum(seed + ":ch2", 22),
                title=f"{display} Brand",
                custom_url=f"@{name}brand",
            ),
        ]
    return user


def _as_list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list")
    return [item for item in value if isinstance(item, Mapping)]


def _instagram(raw: Any) -> InstagramAccount | None:
    if not isinstance(raw, Mapping):
        return None
    username = str(raw.get("username", "ig"))
    return InstagramAccount(
        id=str(raw["id"]), username=username, name=str(raw.get("name", username))
    )


def apply_overrides(user: User, data: Mapping[str, Any]) -> None:
    if "display_name" in data:
        user.display_name = str(data["display_name"])
    if "id" in data:
        user.id = str(data["id"])
    if "disabled" in data:
        user.disabled = bool(data["disabled"])
    if "orgs" in data:
        user.orgs = [
            Org(
                id=str(o["id"]),
                name=str(o.get("name", o["id"])),
                vanity_name=str(o.get("vanity_name", o["id"])),
                role=str(o.get("role", "ADMINISTRATOR")),
                state=str(o.get("state", "APPROVED")),
            )
            for o in _as_list(data, "orgs")
        ]
    if "pages" in data:
        user.pages = [
            Page(
                id=str(p["id"]),
                name=str(p.get("name", p["id"])),
                category=str(p.get("category", "Brand")),
                instagram=_instagram(p.get("instagram", p.get("instagram_business_account"))),
            )
            for p in _as_list(data, "pages")
        ]
    if "channels" in data:
        user.channels = [
            Channel(
                id=str(c["id"]),
                title=str(c.get("title", c["id"])),
                custom_url=str(c.get("custom_url", "@" + str(c["id"]))),
            )
            for c in _as_list(data, "channels")
        ]


class UserDirectory:
    """Users per provider namespace, created on first consent with default candidates."""

    def __init__(self) -> None:
        self._users: dict[tuple[str, str], User] = {}

    def ensure(self, provider: str, name: str) -> User:
        user = self._users.get((provider, name))
        if user is None:
            user = _default_user(provider, name)
            self._users[provider, name] = user
        return user

    def get(self, provider: str, name: str) -> User | None:
        return self._users.get((provider, name))

    def put(self, provider: str, name: str, data: Mapping[str, Any]) -> User:
        user = self.ensure(provider, name)
        apply_overrides(user, data)
        return user

    def find_page(self, provider: str, page_id: str) -> tuple[User, Page] | None:
        for (prov, _), user in self._users.items():
            if prov != provider:
                continue
            for page in user.pages:
                if page.id == page_id:
                    return user, page
        return None
