"""Where the callback may send the user: an allow-list, so the connector is no open redirect.

An entry is an origin, optionally with a path prefix: `https://app.example.com`,
`https://app.example.com/settings/accounts`, or with `*` for the port
(`http://127.0.0.1:*`, the development default that admits any loopback port). A redirect URL
passes when it is absolute http(s), carries no credentials and no fragment, and its scheme, host
and port match an entry exactly (host case-insensitive, default ports filled in) and its path
starts with the entry's path at a segment boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit

from connector.domain.errors import RedirectNotAllowedError

__all__ = ["DEVELOPMENT_REDIRECTS", "RedirectPolicy", "RedirectRule", "landing_url"]

DEVELOPMENT_REDIRECTS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_PORT = -1


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise RedirectNotAllowedError("not a URL") from None
    return parts


@dataclass(frozen=True)
class RedirectRule:
    scheme: str
    host: str
    port: int  # ANY_PORT for `*`
    path: str = ""

    @classmethod
    def parse(cls, entry: str) -> RedirectRule:
        any_port = entry.split("//", 1)[-1].split("/", 1)[0].endswith(":*")
        parts = urlsplit(entry.replace(":*", "", 1) if any_port else entry)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"redirect allow-list entry {entry!r} is not an http(s) origin")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"redirect allow-list entry {entry!r} has more than origin and path")
        port = ANY_PORT if any_port else (parts.port or _DEFAULT_PORTS[parts.scheme])
        return cls(parts.scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))

    def admits(self, parts: SplitResult) -> bool:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        if (parts.scheme, (parts.hostname or "").lower()) != (self.scheme, self.host):
            return False
        if self.port not in (ANY_PORT, port):
            return False
        path = parts.path or "/"
        return not self.path or path == self.path or path.startswith(self.path + "/")


@dataclass(frozen=True)
class RedirectPolicy:
    rules: tuple[RedirectRule, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> RedirectPolicy:
        return cls(tuple(RedirectRule.parse(e) for e in entries))

    def check(self, url: str) -> str:
        """`url` when the list admits it; `RedirectNotAllowedError` otherwise."""
        parts = _split(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise RedirectNotAllowedError("it must be an absolute http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise RedirectNotAllowedError("it must not carry credentials")
        if parts.fragment:
            raise RedirectNotAllowedError("it must not carry a fragment")
        if "\\" in url:
            raise RedirectNotAllowedError("it must not contain backslashes")
        if not any(rule.admits(parts) for rule in self.rules):
            raise RedirectNotAllowedError("its origin is not on the connector's allow-list")
        return url


def landing_url(redirect_url: str, params: Mapping[str, str]) -> str:
    """`redirect_url` with `params` added to its query (its own parameters kept)."""
    parts = urlsplit(redirect_url)
    extra = urlencode(dict(params))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
