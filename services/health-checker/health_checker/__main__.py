"""`python -m health_checker` / `health-checker`: run the service until SIGTERM."""

from __future__ import annotations

from health_checker.config import Settings
from health_checker.main import SERVICE, create_app
from mooring.service.serve import run_service


def main() -> None:
    run_service(SERVICE, Settings, create_app)


if __name__ == "__main__":
    main()
