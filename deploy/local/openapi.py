"""`make openapi`: write each service's OpenAPI document to deploy/openapi/<service>.json.

The documents are committed so an API change shows up in review; tests/test_openapi.py fails
while they differ from the code. Building an app connects to nothing, so no infrastructure is
needed.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "deploy" / "openapi"
SERVICES = {
    "connector": "connector",
    "token-keeper": "token_keeper",
    "health-checker": "health_checker",
    "notifier": "notifier",
    "billing-gate": "billing_gate",
}


def document(package: str) -> dict[str, Any]:
    app = importlib.import_module(f"{package}.main").create_app()
    spec: dict[str, Any] = app.openapi()
    return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    for service, package in SERVICES.items():
        (TARGET / f"{service}.json").write_text(render(document(package)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
