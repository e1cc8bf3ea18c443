"""`python -m notifier` / `notifier`: run the service until SIGTERM."""

from __future__ import annotations

from mooring.service.serve import serve

from notifier.config import Settings
from notifier.main import SERVICE, create_app


def main() -> None:
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)


if __name__ == "__main__":
    main()
