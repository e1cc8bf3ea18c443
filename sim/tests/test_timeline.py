"""Calls per platform over time (`GET /_control/calls/timeline`): what rate tests read."""

import time

from platform_sim.timeline import CallTimeline


def test_calls_are_bucketed_by_time_at_the_asked_resolution():
    now = [1000.04]
    timeline = CallTimeline(clock=lambda: now[0])
    for at in (1000.04, 1000.5, 1000.99, 1001.2, 1003.0):
        now[0] = at
        timeline.count("x")
    now[0] = 1000.3
    timeline.count("google")
    assert timeline.buckets("x", 1.0) == [(1000.0, 3), (1001.0, 1), (1003.0, 1)]
    assert timeline.buckets("x", 0.5) == [(1000.0, 1), (1000.5, 2), (1001.0, 1), (1003.0, 1)]
    assert timeline.buckets("google", 1.0) == [(1000.0, 1)]
    assert timeline.buckets("tiktok", 1.0) == []
    assert timeline.platforms() == ["google", "x"]


def test_only_about_the_last_hour_is_kept():
    now = [0.0]
    timeline = CallTimeline(clock=lambda: now[0])
    for second in range(0, 3700, 10):
        now[0] = float(second)
        timeline.count("x")
    buckets = timeline.buckets("x", 1.0)
    assert buckets[0][0] >= 3690 - 3600 - 60  # pruned once a minute
    assert buckets[0][0] > 0
    assert buckets[-1] == (3690.0, 1)


def test_the_control_api_reports_and_clears_the_timeline(sim):
    sim.http.delete("/_control/calls")
    started = time.time()
    for _ in range(3):
        sim.http.get("/x/2/users/me")
    sim.http.get("/mastodon/a.test/api/v1/accounts/verify_credentials")
    timeline = sim.control("GET", "/calls/timeline?platform=x&resolution_ms=60000")
    assert list(timeline) == ["x"]
    assert sum(calls for _, calls in timeline["x"]) == 3
    assert all(start <= time.time() and start >= started - 60 for start, _ in timeline["x"])
    every = sim.control("GET", "/calls/timeline")
    assert sum(calls for _, calls in every["mastodon"]) == 1
    bad = sim.http.get("/_control/calls/timeline?resolution_ms=5")
    assert bad.status_code == 400
    sim.http.delete("/_control/calls")
    assert sim.control("GET", "/calls/timeline") == {}
