"""`python -m token_keeper` / `token-keeper`: serve until SIGTERM, or run a scheduled job (`job <name>`)."""

from __future__ import annotations

import sys

from mooring.service.serve import main as serve_main
from token_keeper.config import Settings
from token_keeper.main import SERVICE, create_app


def main() -> None:
    sys.exit(serve_main(SERVICE, Settings, create_app))


if __name__ == "__main__":
    main()
