"""`python -m billing_gate` / `billing-gate`: run the service until SIGTERM."""

from __future__ import annotations

from billing_gate.config import Settings
from billing_gate.main import SERVICE, create_app
from mooring.service.serve import run_service


def main() -> None:
    run_service(SERVICE, Settings, create_app)


if __name__ == "__main__":
    main()
