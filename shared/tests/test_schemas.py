"""The committed JSON Schemas are the public contract; this fails when a payload drifts from them."""

import json
from pathlib import Path

import jsonschema
import pytest

from mooring.events import ALL_EVENTS
from mooring.events.schemas import render, schemas

COMMITTED = Path(__file__).resolve().parents[2] / "deploy" / "schemas"


def test_every_event_has_a_committed_schema_equal_to_its_model() -> None:
    generated = schemas()
    assert {p.stem for p in COMMITTED.glob("*.json")} == set(generated)
    drift = [t for t, s in generated.items() if (COMMITTED / f"{t}.json").read_text() != render(s)]
    assert not drift, (
        f"payload models changed for {drift}: decide the schema_version, then run "
        "`make schemas` and commit deploy/schemas/"
    )


def test_every_event_carries_a_schema_version_and_no_token_field() -> None:
    for model in ALL_EVENTS:
        fields = set(model.model_fields)
        assert "schema_version" in fields, model.event_type
        assert not {f for f in fields if "token" in f or "secret" in f}, model.event_type
        assert model.key_field in fields, model.event_type


def test_committed_schemas_validate_real_payloads() -> None:
    sample = json.loads(
        '{"schema_version": 1, "account_id": "7b0e6c2e-8d8e-4d47-9d4c-3f3f0e6f9a11",'
        ' "workspace_id": "0c4a3ad9-5a0a-4a7e-93e3-0b7a3b3c1d2e", "platform": "x",'
        ' "platform_account_id": "42", "reason": "revoked",'
        ' "disconnected_at": "2026-11-29T00:00:00Z"}'
    )
    schema = json.loads((COMMITTED / "account.disconnected.json").read_text())
    jsonschema.validate(sample, schema)
    sample["reason"] = "bored"
    with pytest.raises(jsonschema.ValidationError, match="'bored' is not one of"):
        jsonschema.validate(sample, schema)
