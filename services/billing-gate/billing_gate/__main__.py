"""`python -m billing_gate` / `billing-gate`: run the service until SIGTERM."""

from __future__ import annotations

from mooring.service.serve import serve

from billing_gate.config import Settings
from billing_gate.main import SERVICE, create_app


def main() -> None:
    settings = Settings()
    serve(SERVICE, create_app(settings), settings)


if __name__ == "__main__":
    main()
