"""`python -m token_keeper` / `token-keeper`: run the service until SIGTERM."""

from __future__ import annotations

from mooring.service.serve import serve

from token_keeper.config import Settings
from token_keeper.main import SERVICE, create_app


def main() -> None:
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)


if __name__ == "__main__":
    main()
