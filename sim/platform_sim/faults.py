"""Injected failures (5xx, 429, hangs, latency) and per-endpoint call counts."""

import json
import secrets
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["FaultBook", "FaultKind", "FaultRule", "fault_body"]

TOO_MANY_REQUESTS = 429


class FaultKind(StrEnum):
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    HANG = "hang"
    LATENCY = "latency"


@dataclass(slots=True)
class FaultRule:
    id: str
    platform: str
    prefix: str
    path: str | None
    method: str | None
    kind: FaultKind
    status: int
    retry_after: int
    seconds: float | None
    times: int | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.path is not None:
            return path == self.path or path.rstrip("/") == self.path.rstrip("/")
        return path.startswith(self.prefix)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data


class FaultBook:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.calls: dict[str, dict[str, int]] = {}

    def count(self, platform: str, path: str) -> None:
        per_platform = self.calls.get(platform)
        if per_platform is None:
            per_platform = self.calls[platform] = {}
        per_platform[path] = per_platform.get(path, 0) + 1

    def add(
        self,
        *,
        platform: str,
        path: str | None,
        method: str | None,
        kind: FaultKind,
        status: int,
        retry_after: int,
        seconds: float | None,
        times: int | None,
    ) -> FaultRule:
        prefix = f"/{platform}/"
        if path is not None and not path.startswith(prefix):
            path = prefix.rstrip("/") + (path if path.startswith("/") else "/" + path)
        rule = FaultRule(
            id=secrets.token_hex(4),
            platform=platform,
            prefix=prefix,
            path=path,
            method=method.upper() if method else None,
            kind=kind,
            status=status,
            retry_after=retry_after,
            seconds=seconds,
            times=times,
        )
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def match(self, method: str, path: str) -> tuple[float, FaultRule | None]:
        """Latency of every matching latency rule, and the first rule that replaces the answer."""
        if not self.rules:
            return 0.0, None
        delay = 0.0
        hit: FaultRule | None = None
        for rule in list(self.rules):
            if not rule.matches(method, path):
                continue
            if rule.kind is FaultKind.LATENCY:
                delay += rule.seconds or 0.0
            elif hit is None:
                hit = rule
            else:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
        return delay, hit


def _reason(status: int) -> str:
    return {
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(status, "Error")


def _meta(status: int) -> dict[str, Any]:
    if status == TOO_MANY_REQUESTS:
        return {
            "error": {
                "message": "Application request limit reached",
                "type": "OAuthException",
                "code": 4,
                "is_transient": True,
                "fbtrace_id": secrets.token_urlsafe(8),
            }
        }
    return {
        "error": {
            "message": "An unexpected error has occurred. Please retry your request later.",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
            "fbtrace_id": secrets.token_urlsafe(8),
        }
    }


def fault_body(platform: str, status: int) -> bytes:
    """An error body in the platform's own shape, so adapters parse what they would in production."""
    reason = _reason(status)
    limited = status == TOO_MANY_REQUESTS
    body: dict[str, Any]
    match platform:
        case "x":
            body = {"title": reason, "detail": reason, "type": "about:blank", "status": status}
        case "facebook" | "instagram" | "threads":
            body = _meta(status)
        case "tiktok":
            code = "rate_limit_exceeded" if limited else "internal_error"
            body = {"data": {}, "error": {"code": code, "message": reason, "log_id": "sim"}}
        case "google":
            state = "RESOURCE_EXHAUSTED" if limited else "UNAVAILABLE"
            body = {"error": {"code": status, "message": reason, "status": state}}
        case "linkedin":
            body = {"status": status, "message": reason}
        case "pinterest":
            body = {"code": 8 if limited else 1, "message": reason}
        case "bluesky":
            name = "RateLimitExceeded" if limited else "InternalServerError"
            body = {"error": name, "message": reason}
        case _:
            body = {"error": reason}
    return json.dumps(body).encode()
