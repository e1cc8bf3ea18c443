"""`python -m token_keeper` / `token-keeper`: run the service until SIGTERM."""

from __future__ import annotations

from mooring.service.serve import run_service
from token_keeper.config import Settings
from token_keeper.main import SERVICE, create_app


def main() -> None:
    run_service(SERVICE, Settings, create_app)


if __name__ == "__main__":
    main()
