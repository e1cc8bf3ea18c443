"""Mint a development gateway token: `python -m mooring.cli.dev_token --workspace <uuid>`.

Signs with MOORING_GATEWAY_JWT_SECRET exactly as the gateway would; prints only the token.
`make token WORKSPACE=<uuid> ROLE=member` runs it with `--env-file .run/dev-secrets.env`, so
the token is one the services `make run` started accept: a variable set in the environment wins
over the file, and the file is only read for the gateway's settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from mooring.service.auth import GatewayJwtSettings, issue_gateway_token

__all__ = ["main"]

_GATEWAY_PREFIX = "MOORING_GATEWAY_JWT_"
_FROM_FILE = frozenset({"secret", "issuer", "audience"})


def _gateway_settings(env_file: Path | None) -> GatewayJwtSettings:
    if env_file is None or not env_file.exists():
        return GatewayJwtSettings()
    from_file: dict[str, Any] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        name = key.removeprefix(_GATEWAY_PREFIX).lower()
        if sep and key.startswith(_GATEWAY_PREFIX) and name in _FROM_FILE and key not in os.environ:
            from_file[name] = value
    return GatewayJwtSettings(**from_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mooring.cli.dev_token")
    parser.add_argument("--workspace", type=uuid.UUID, required=True, help="the workspace id")
    parser.add_argument("--user", default="dev-user", help="the token's subject (`sub`)")
    parser.add_argument("--role", choices=["owner", "admin", "member"], default="owner")
    parser.add_argument("--hours", type=float, default=12)
    parser.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help="read MOORING_GATEWAY_JWT_* from this file where the environment has none "
        "(make run keeps them in .run/dev-secrets.env)",
    )
    args = parser.parse_args(argv)
    if not args.user.strip() or not 0 < args.hours <= 24 * 30:
        parser.error("--user must not be empty and --hours must be in (0, 720]")
    try:
        token = issue_gateway_token(
            _gateway_settings(args.env_file),
            user_id=args.user,
            workspace_id=args.workspace,
            role=args.role,
            ttl=timedelta(hours=args.hours),
        )
    except ValueError as exc:
        print(
            f"error: {exc} (set it, or run `make run` once: it keeps one in .run/dev-secrets.env)",
            file=sys.stderr,
        )
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
