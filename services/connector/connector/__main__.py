"""`python -m connector` / `connector`: run the service until SIGTERM."""

from __future__ import annotations

from mooring.service.serve import serve

from connector.config import Settings
from connector.main import SERVICE, create_app


def main() -> None:
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)


if __name__ == "__main__":
    main()
