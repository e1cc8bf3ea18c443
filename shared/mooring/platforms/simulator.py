"""Settings that point every adapter at the platform simulator (`python -m platform_sim`).

Pointing at the simulator is configuration only; these helpers spell that configuration out for
tests, `make run` and benchmarks: every base URL becomes `{sim_url}/<prefix>` (sim/README.md),
and the simulator's loopback host is admitted by the Mastodon and Bluesky SSRF guards.
"""

from __future__ import annotations

import httpx

from mooring.platforms.settings import PlatformSettings

__all__ = ["simulator_environment", "simulator_settings"]

# (settings field, base field, simulator prefix)
_BASES: tuple[tuple[str, str, str], ...] = (
    ("linkedin", "auth_base", "linkedin"),
    ("linkedin", "api_base", "linkedin"),
    ("linkedin_page", "auth_base", "linkedin"),
    ("linkedin_page", "api_base", "linkedin"),
    ("x", "auth_base", "x"),
    ("x", "api_base", "x"),
    ("facebook", "dialog_base", "facebook"),
    ("facebook", "graph_base", "facebook"),
    ("instagram_facebook", "dialog_base", "facebook"),
    ("instagram_facebook", "graph_base", "facebook"),
    ("instagram", "auth_base", "instagram"),
    ("instagram", "token_base", "instagram"),
    ("instagram", "graph_base", "instagram"),
    ("tiktok", "auth_base", "tiktok"),
    ("tiktok", "api_base", "tiktok"),
    ("youtube", "auth_base", "google"),
    ("youtube", "token_base", "google"),
    ("youtube", "api_base", "google"),
    ("threads", "auth_base", "threads"),
    ("threads", "graph_base", "threads"),
    ("pinterest", "auth_base", "pinterest"),
    ("pinterest", "api_base", "pinterest"),
    ("bluesky", "resolver_base", "bluesky"),
    ("bluesky", "plc_directory_base", "bluesky/plc"),
)
_WITH_CLIENT = (
    "linkedin",
    "linkedin_page",
    "x",
    "facebook",
    "instagram_facebook",
    "instagram",
    "tiktok",
    "youtube",
    "threads",
    "pinterest",
)


def simulator_environment(
    sim_url: str,
    *,
    client_id: str = "mooring-dev",
    client_secret: str = "mooring-dev-secret",  # noqa: S107 - the simulator accepts any
) -> dict[str, str]:
    """`MOORING_PLATFORM_*` variables for a simulator at `sim_url` (e.g. for `make run`)."""
    base = sim_url.rstrip("/")
    host = httpx.URL(base).netloc.decode("ascii")
    env = {
        f"MOORING_PLATFORM_{name.upper()}__{key.upper()}": f"{base}/{prefix}"
        for name, key, prefix in _BASES
    }
    for name in _WITH_CLIENT:
        env[f"MOORING_PLATFORM_{name.upper()}__CLIENT_ID"] = client_id
        env[f"MOORING_PLATFORM_{name.upper()}__CLIENT_SECRET"] = client_secret
    env["MOORING_PLATFORM_MASTODON__ALLOWED_HOSTS"] = f'["{host}"]'
    env["MOORING_PLATFORM_BLUESKY__ALLOWED_HOSTS"] = f'["{host}"]'
    return env


def simulator_settings(
    sim_url: str,
    *,
    client_id: str = "mooring-dev",
    client_secret: str = "mooring-dev-secret",  # noqa: S107 - the simulator accepts any
) -> PlatformSettings:
    base = sim_url.rstrip("/")
    host = httpx.URL(base).netloc.decode("ascii")
    pieces: dict[str, dict[str, object]] = {}
    for name, key, prefix in _BASES:
        pieces.setdefault(name, {})[key] = f"{base}/{prefix}"
    for name in _WITH_CLIENT:
        pieces[name].update(client_id=client_id, client_secret=client_secret)
    pieces["mastodon"] = {"allowed_hosts": (host,)}
    pieces["bluesky"]["allowed_hosts"] = (host,)
    return PlatformSettings.model_validate(pieces)
