"""Tick arithmetic and the progress line; the scheduler itself runs on PostgreSQL elsewhere."""

import io
from datetime import UTC, datetime, timedelta

from mooring.cli.progress import ProgressLine, bar
from mooring.service.scheduler import Job


async def nothing(_: object) -> None:
    return None


def test_ticks_are_aligned_so_every_replica_computes_the_same_one() -> None:
    hourly = Job(name="j", every=timedelta(hours=1), fn=nothing)
    at = datetime(2026, 11, 30, 14, 25, 7, tzinfo=UTC)
    assert hourly.tick(at) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    assert hourly.tick(at + timedelta(minutes=34)) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    assert hourly.tick(at + timedelta(minutes=35)) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def test_an_offset_moves_the_daily_tick_and_a_missed_day_is_one_tick() -> None:
    daily = Job(name="j", every=timedelta(days=1), fn=nothing, offset=timedelta(hours=3))
    assert daily.tick(datetime(2026, 11, 30, 2, 59, tzinfo=UTC)) == datetime(
        2026, 11, 29, 3, 0, tzinfo=UTC
    )
    assert daily.tick(datetime(2026, 12, 3, 9, 0, tzinfo=UTC)) == datetime(
        2026, 12, 3, 3, 0, tzinfo=UTC
    )


def test_the_progress_line_shows_counts_and_the_bar() -> None:
    assert bar(5, 10, width=10) == "[#####.....]"
    assert bar(3, None, width=4) == "[????]"
    out = io.StringIO()
    line = ProgressLine("social:check", stream=out, min_interval_s=0)
    line({"done": 50, "total": 100, "revoked": 2})
    text = out.getvalue()
    assert "social:check" in text
    assert "50/100" in text
    assert "revoked=2" in text
