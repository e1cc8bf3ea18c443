"""JSON Schema per event, committed under deploy/schemas/ so contract changes show up in review.

`python -m mooring.events.schemas deploy/schemas` regenerates them; a test fails while the
committed files differ from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mooring.events import ALL_EVENTS

__all__ = ["render", "schemas"]


def schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for model in ALL_EVENTS:
        schema = model.model_json_schema()
        schema["$id"] = f"urn:mooring:event:{model.event_type}"
        schema["x-kafka-topic"] = model.event_type
        schema["x-kafka-key"] = model.key_field
        out[model.event_type] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "deploy/schemas")
    target.mkdir(parents=True, exist_ok=True)
    for event_type, schema in schemas().items():
        (target / f"{event_type}.json").write_text(render(schema))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
