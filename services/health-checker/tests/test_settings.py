"""Settings: per-platform limits from the environment, merged over the defaults, bounded."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from health_checker.config import DEFAULT_LIMITS, PLATFORMS, Settings


def test_limits_from_json_replace_only_the_platforms_they_name(monkeypatch) -> None:
    monkeypatch.setenv(
        "HEALTH_CHECKER_PLATFORM_LIMITS",
        '{"x": {"concurrency": 1, "rate_per_s": 0.5, "daily_quota": 100}}',
    )
    settings = Settings()
    x = settings.limit_for("x")
    assert (x.concurrency, x.rate_per_s, x.burst, x.daily_quota) == (1, 0.5, 1, 100)
    assert settings.limit_for("youtube") == DEFAULT_LIMITS["youtube"]
    assert set(settings.platform_limits) == set(PLATFORMS)
    assert len(PLATFORMS) == 12


def test_defaults_give_x_and_youtube_a_daily_budget() -> None:
    settings = Settings()
    assert settings.limit_for("x").daily_quota is not None
    assert settings.limit_for("youtube").daily_quota is not None
    assert settings.limit_for("mastodon").daily_quota is None
    assert (settings.check_every_s, settings.stuck_every_s) == (86_400, 1800)
    assert (settings.stuck_threshold_s, settings.stuck_max_attempts) == (3600, 3)


def test_every_number_can_be_set_from_the_environment(monkeypatch) -> None:
    """Environment values are strings: a strict integer field refused every one of them, so the
    service could not start with, say, HEALTH_CHECKER_STUCK_EVERY_S set."""
    numbers = {
        "CHECK_EVERY_S": 3600,
        "CHECK_OFFSET_S": 60,
        "CHECK_WINDOW_S": 1800,
        "CHECK_BATCH_SIZE": 50,
        "CHECK_PARALLEL_PLATFORMS": 4,
        "STUCK_EVERY_S": 86_400,
        "STUCK_THRESHOLD_S": 600,
        "STUCK_MAX_ATTEMPTS": 5,
        "DELIVERY_RETENTION_S": 7200,
    }
    for name, value in numbers.items():
        monkeypatch.setenv(f"HEALTH_CHECKER_{name}", str(value))
    settings = Settings()
    assert {name: getattr(settings, name.lower()) for name in numbers} == numbers


@pytest.mark.parametrize("value", ["1.5", "ten", "true"])
def test_a_number_that_is_not_a_whole_number_is_refused(monkeypatch, value) -> None:
    monkeypatch.setenv("HEALTH_CHECKER_CHECK_BATCH_SIZE", value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    "limits",
    [
        '{"myspace": {"concurrency": 1}}',
        '{"x": {"concurrency": 0}}',
        '{"x": {"rate_per_s": -1}}',
        '{"x": {"concurrency": "2"}}',
        '{"x": {"unknown": 1}}',
        '{"x": {"daily_quota": 0}}',
    ],
)
def test_bad_limits_are_refused_at_start(monkeypatch, limits) -> None:
    monkeypatch.setenv("HEALTH_CHECKER_PLATFORM_LIMITS", limits)
    with pytest.raises(ValidationError):
        Settings()
