"""The internal routes (service token, problem details) and the no-secrets rule: after checks
that refresh, expire and fail on outages, no token appears in a log record, an event, a route's
answer, the metrics or the job's recorded progress."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import text

from health_checker.main import CHECK_JOB

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]

PROBLEM = "application/problem+json"


async def test_internal_routes_need_the_service_token_and_answer_problems(
    make_settings, start
) -> None:
    async with start(make_settings()) as service:
        anonymous = await service.http.get(
            "/internal/v1/check-runs/latest", headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == PROBLEM
        wrong = await service.http.get(
            "/internal/v1/check-runs/latest", headers={"Authorization": "Bearer nope"}
        )
        assert (wrong.status_code, wrong.json()["type"]) == (
            401,
            "urn:mooring:problem:unauthenticated",
        )

        none = await service.http.get("/internal/v1/check-runs/latest")
        assert (none.status_code, none.headers["content-type"]) == (404, PROBLEM)
        assert none.json()["type"] == "urn:mooring:problem:run-not-found"
        assert (await service.http.get("/internal/v1/stuck-sweeps/latest")).status_code == 404
        unknown = await service.http.get(f"/internal/v1/check-runs/{uuid.uuid4()}")
        assert (unknown.status_code, unknown.json()["type"]) == (
            404,
            "urn:mooring:problem:run-not-found",
        )
        bad = await service.http.get("/internal/v1/check-runs/not-a-uuid")
        assert (bad.status_code, bad.headers["content-type"]) == (422, PROBLEM)
        assert [e["location"] for e in bad.json()["errors"]] == ["path.check_run_id"]


async def test_a_run_is_readable_by_its_id_with_start_end_and_counts(
    sim, make_settings, start
) -> None:
    async with start(make_settings()) as service:
        for token in sim.mint("youtube", "read", 3):
            await service.add("youtube", token)
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        latest = (await service.http.get("/internal/v1/check-runs/latest")).json()
        by_id = (await service.http.get(f"/internal/v1/check-runs/{latest['check_run_id']}")).json()
    assert by_id == latest
    assert latest["started_at"] <= latest["finished_at"]
    assert (latest["planned"], latest["checked"], latest["counts"]) == (3, 3, {"ok": 3})
    assert latest["batches"] == {"pending": 0, "working": 0, "done": 1}
    assert latest["platforms"] == {"youtube": {"ok": 3}}


async def test_no_token_leaks_anywhere(sim, make_settings, start, hc_engine, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    repaired_tokens = await sim.connect("x", "leak-repaired")
    revoked_tokens = await sim.connect("pinterest", "leak-revoked")
    outage_tokens = sim.mint("tiktok", "leak-outage", 1)[0]
    meta_tokens = sim.mint("facebook", "leak-meta", 1)[0]  # Graph calls carry it in the URL
    async with start(make_settings()) as service:
        repaired = await service.add("x", repaired_tokens)
        revoked = await service.add("pinterest", revoked_tokens)
        await service.add("tiktok", outage_tokens)
        await service.add("facebook", meta_tokens)
        sim.expire_access(repaired_tokens.access_token)
        sim.revoke("pinterest", "leak-revoked")
        sim.fault("tiktok", "error", status=503)
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        run = (await service.http.get("/internal/v1/check-runs/latest")).json()
        assert run["counts"] == {"repaired": 1, "expired": 1, "transient": 1, "ok": 1}

        refreshed = await service.account(repaired.id)
        secrets = {
            s.get_secret_value()
            for s in (
                repaired_tokens.access_token,
                repaired_tokens.refresh_token,
                revoked_tokens.access_token,
                revoked_tokens.refresh_token,
                outage_tokens.access_token,
                outage_tokens.refresh_token,
                meta_tokens.access_token,
                refreshed.credentials.access_token,
                refreshed.credentials.refresh_token,
            )
            if s is not None
        }
        assert len(secrets) == 9

        answers = [
            (await service.http.get(path)).text
            for path in (
                "/internal/v1/check-runs/latest",
                f"/internal/v1/check-runs/{run['check_run_id']}",
                "/metrics",
            )
        ]
        events = [
            *(await service.events("account.disconnected", until=lambda es: es)),
            *(await service.events("token.refreshed", until=lambda es: es)),
        ]
        async with hc_engine.connect() as conn:
            stored = [
                str(row)
                for row in (
                    await conn.execute(
                        text("SELECT payload, headers FROM outbox UNION ALL "
                             "SELECT convert_to(progress::text, 'UTF8'), to_jsonb(error) FROM job_runs")
                    )
                ).all()
            ]  # fmt: skip
    assert revoked.id  # used above
    logged = [
        f"{record.getMessage()} {record.__dict__} {record.exc_text or ''}"
        for record in caplog.records
    ]
    haystack = "\n".join([*logged, *answers, *map(str, events), *stored])
    assert "check run" in haystack  # the logs were captured at all
    leaked = [secret for secret in secrets if secret in haystack]
    assert leaked == []
