"""`python -m connector` / `connector`: run the service until SIGTERM."""

from __future__ import annotations

from connector.config import Settings
from connector.main import SERVICE, create_app
from mooring.service.serve import run_service


def main() -> None:
    run_service(SERVICE, Settings, create_app)


if __name__ == "__main__":
    main()
