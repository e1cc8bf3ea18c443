"""`python -m health_checker` / `health-checker`: run the service until SIGTERM."""

from __future__ import annotations

from mooring.service.serve import serve

from health_checker.config import Settings
from health_checker.main import SERVICE, create_app


def main() -> None:
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)


if __name__ == "__main__":
    main()
