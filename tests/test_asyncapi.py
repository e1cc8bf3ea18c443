"""The committed AsyncAPI documents are the event contract per service; this fails on drift, and
holds them to the JSON Schemas and the Kafka ACL table."""

import json
from pathlib import Path
from typing import Any

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def generator() -> Any:
    return load_script("deploy/local/asyncapi.py", "asyncapi_gen")


def documents() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (ROOT / "deploy/asyncapi").glob("*.json")}


def test_every_service_has_a_committed_asyncapi_document_equal_to_its_code() -> None:
    gen = generator()
    drift = [
        service
        for service, package in gen.SERVICES.items()
        if (gen.TARGET / f"{service}.json").read_text()
        != gen.render(gen.document(service, package))
    ]
    assert not drift, f"events changed for {drift}: run `make asyncapi` and commit deploy/asyncapi/"


def test_payloads_are_the_committed_schemas_and_consumers_hold_a_kafka_acl() -> None:
    acls = json.loads((ROOT / "deploy/kafka/acls.json").read_text())["principals"]
    for service, doc in documents().items():
        assert doc["asyncapi"] == "3.0.0"
        for channel in doc["channels"].values():
            for message in channel["messages"].values():
                ref = message["payload"]["$ref"]
                assert (ROOT / "deploy/asyncapi" / ref).resolve().exists(), (service, ref)
        consumed = {
            op["channel"]["$ref"].rsplit("/", 1)[1]
            for op in doc["operations"].values()
            if op["action"] == "receive"
        }
        topics = {doc["channels"][c]["address"] for c in consumed}
        assert topics <= set(acls[service]["consume"]), (service, topics)
