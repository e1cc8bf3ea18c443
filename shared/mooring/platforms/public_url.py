"""The SSRF guard for user-supplied hosts: Mastodon instances, Bluesky PDSes and did:web hosts.

A URL passes when it is https, carries no credentials, and its host resolves to public addresses
only (no loopback, private, link-local incl. 169.254.169.254, unique-local, unspecified,
multicast or reserved ranges, also when wrapped in IPv4-mapped or NAT64 IPv6). The check runs
before any connection, and the request then goes to the address that was checked (pinned, with
the original `Host` and TLS SNI), so a DNS answer that changes between check and connect
(rebinding) cannot move it. Redirects are followed by hand, every hop checked again.

`allowed_hosts` (`host` or `host:port`) admits specific hosts without the address check and
over http too: the loopback simulator in tests and `make run`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from mooring.platforms.exceptions import UnsafeURLError
from mooring.platforms.http import PlatformHttp

__all__ = ["HostResolver", "SafeTarget", "SystemResolver", "UrlGuard", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HostResolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[str]: ...


class SystemResolver:
    """The operating system's resolver, off the event loop."""

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


@dataclass(frozen=True, slots=True)
class SafeTarget:
    """A checked URL and the address to connect to (None: allow-listed, connect as given)."""

    url: httpx.URL
    address: str | None = None

    def request_parts(self) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        if self.address is None:
            return self.url, {}, {}
        return (
            self.url.copy_with(host=self.address),
            {"Host": self.url.netloc.decode("ascii")},
            {"sni_hostname": self.url.host},
        )


def _host_key(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.port is None else f"{host}:{url.port}"


class UrlGuard:
    def __init__(
        self,
        *,
        platform: str,
        allowed_hosts: Iterable[str] = (),
        resolver: HostResolver | None = None,
    ) -> None:
        self._platform = platform
        self._allowed = frozenset(host.strip().lower() for host in allowed_hosts if host.strip())
        self._resolver: HostResolver = resolver or SystemResolver()

    def _reject(self, reason: str, message: str) -> UnsafeURLError:
        return UnsafeURLError(self._platform, reason, message)

    def parse(self, raw: str | httpx.URL) -> httpx.URL:
        if isinstance(raw, httpx.URL):
            return raw
        text = raw.strip()
        if "://" not in text:
            text = f"https://{text}"
        try:
            return httpx.URL(text)
        except httpx.InvalidURL:
            raise self._reject("invalid_url", "the URL is not valid") from None

    async def check(self, raw: str | httpx.URL) -> SafeTarget:
        url = self.parse(raw)
        if url.scheme not in {"http", "https"} or not url.host:
            raise self._reject("invalid_url", "the URL must be an http(s) URL with a host")
        if url.userinfo:
            raise self._reject("invalid_url", "the URL must not carry credentials")
        if _host_key(url) in self._allowed:
            return SafeTarget(url)
        if url.scheme != "https":
            raise self._reject("https_required", "the URL must use https")
        try:
            literal: IPAddress | None = ipaddress.ip_address(url.host)
        except ValueError:
            literal = None
        if literal is not None:
            if not is_public_address(literal):
                raise self._reject("private_address", "the host is not a public address")
            return SafeTarget(url)
        addresses = await self._resolve(url)
        return SafeTarget(url, addresses[0])

    async def _resolve(self, url: httpx.URL) -> list[str]:
        port = url.port or 443
        try:
            answers = await self._resolver.resolve(url.host, port)
        except (OSError, UnicodeError):
            raise self._reject("unresolvable_host", "the host name does not resolve") from None
        addresses: list[str] = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer.split("%", 1)[0])
            except ValueError:
                raise self._reject("unresolvable_host", "the host resolved oddly") from None
            if not is_public_address(address):
                raise self._reject("private_address", "the host resolves to a non-public address")
            addresses.append(str(address))
        if not addresses:
            raise self._reject("unresolvable_host", "the host name does not resolve")
        return addresses

    async def request(
        self,
        http: PlatformHttp,
        method: str,
        url: str | httpx.URL,
        *,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_redirects: int = 3,
    ) -> httpx.Response:
        """Send through `http`, checking the target (and every redirect hop) first."""
        current = self.parse(url)
        sent_headers = dict(headers or {})
        for _ in range(max_redirects + 1):
            target = await self.check(current)
            send_url, host_header, extensions = target.request_parts()
            response = await http.send(
                method,
                send_url,
                params=params,
                data=data,
                json=json,
                headers={**sent_headers, **host_header},
                extensions=extensions,
            )
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response
            await response.aclose()
            following = target.url.join(location)
            if following.scheme != target.url.scheme or _host_key(following) != _host_key(
                target.url
            ):
                # Never forward credentials to another origin.
                sent_headers.pop("Authorization", None)
            if response.status_code == httpx.codes.SEE_OTHER or (
                response.status_code in {301, 302} and method == "POST"
            ):
                method, data, json = "GET", None, None
            current, params = following, None
        raise self._reject("too_many_redirects", "the host redirects too many times")
