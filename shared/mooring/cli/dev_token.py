"""Mint a development gateway token: `python -m mooring.cli.dev_token --workspace <uuid>`.

Signs with MOORING_GATEWAY_JWT_SECRET exactly as the gateway would; prints only the token.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import timedelta

from mooring.service.auth import GatewayJwtSettings, issue_gateway_token

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mooring.cli.dev_token")
    parser.add_argument("--workspace", type=uuid.UUID, required=True)
    parser.add_argument("--user", default="dev-user")
    parser.add_argument("--role", choices=["owner", "admin", "member"], default="owner")
    parser.add_argument("--hours", type=float, default=12)
    args = parser.parse_args(argv)
    try:
        token = issue_gateway_token(
            GatewayJwtSettings(),
            user_id=args.user,
            workspace_id=args.workspace,
            role=args.role,
            ttl=timedelta(hours=args.hours),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
