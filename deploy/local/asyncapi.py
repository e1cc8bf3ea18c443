"""`make asyncapi`: write each service's AsyncAPI 3.0 document to deploy/asyncapi/<service>.json.

Committed like the OpenAPI documents: tests/test_asyncapi.py fails while they differ from what
the services subscribe to and publish. Building an app connects to nothing.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from mooring.service.asyncapi import asyncapi_document

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "deploy" / "asyncapi"
SERVICES = {
    "connector": "connector",
    "token-keeper": "token_keeper",
    "health-checker": "health_checker",
    "notifier": "notifier",
    "billing-gate": "billing_gate",
}


def document(service: str, package: str) -> dict[str, Any]:
    runtime = importlib.import_module(f"{package}.main").create_app().state.runtime
    return asyncapi_document(service, runtime.consumed_events())


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    for service, package in SERVICES.items():
        (TARGET / f"{service}.json").write_text(render(document(service, package)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
