"""A service process for the delivery tests: one subscription whose effect is a row.

Run: python effects_consumer.py  (settings from the environment: DATABASE_URL,
KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC_PREFIX, MOORING_CONSUMER_COMMIT_INTERVAL_MS, EFFECTS_GROUP,
HTTP port in EFFECTS_PORT). The handler writes no inbox row of its own: deduplication is the
runtime's.
"""

from __future__ import annotations

import os

import uvicorn
from sqlalchemy import text

from mooring.events import AccountConnected, Envelope
from mooring.logs import configure_logging
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.uow import SqlUnitOfWork


def main() -> None:
    configure_logging("effects-consumer", "INFO")
    group = os.environ["EFFECTS_GROUP"]
    settings = ServiceSettings(migrate_on_start=False, relay_enabled=False, consumer_group=group)
    runtime = ServiceRuntime("effects-consumer", settings)

    async def handle(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        await uow.session.execute(
            text("INSERT INTO test_effects (grp, event_id) VALUES (:g, :e)"),
            {"g": group, "e": envelope.id},
        )

    runtime.subscribe(AccountConnected, handle)
    app = build_http_app(runtime, title="effects consumer")
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["EFFECTS_PORT"]), log_config=None)


if __name__ == "__main__":
    main()
