"""`python -m connector` / `connector`: serve until SIGTERM, or run a scheduled job (`job <name>`)."""

from __future__ import annotations

import sys

from connector.config import Settings
from connector.main import SERVICE, create_app
from mooring.service.serve import main as serve_main


def main() -> None:
    sys.exit(serve_main(SERVICE, Settings, create_app))


if __name__ == "__main__":
    main()
