"""One connect as a person does it, in a real headless Chromium (Debian's `chromium` package,
driven by Playwright's Python package): start -> the simulator's consent page -> Approve ->
the connector's callback -> the landing URL with `connected=` and the account id.

The browser talks to loopback only: the simulator and the connector run on 127.0.0.1, every
other host name fails to resolve (`--host-resolver-rules`), and its background services are
off. The landing page is answered by the test itself (request interception), so nothing needs
to listen on the redirect URL. A screenshot of the consent page is kept in
`.run/artifacts/connector/consent-page.png` (gitignored).
"""

import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.async_api import Route, async_playwright

from .conftest import ARTIFACTS, REDIRECT
from .flows import start

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    # Only loopback resolves: the test can reach nothing else, whatever a page asks for.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture
def screenshot() -> Path:
    """Where the consent page's picture goes (emptied first); the browser must be installed."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run `make browser`"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "consent-page.png"
    path.unlink(missing_ok=True)
    return path


def size_of(path: Path) -> int:
    return path.stat().st_size


async def test_a_person_connects_x_in_a_real_browser(stack, tmp_path: Path, screenshot: Path):
    ws = uuid.uuid4()
    async with stack.client(ws) as gateway:
        started = await start(gateway, ws, "x")
        assert started.status_code == 201, started.text
    authorization_url = started.json()["authorization_url"]
    seen: list[str] = []

    async def landing(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body="<h1>Connected</h1>")

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
        )
        try:
            page = await context.new_page()
            page.on("request", lambda request: seen.append(request.url))
            await page.route(f"{REDIRECT}**", landing)
            await page.goto(authorization_url)
            assert "authorize" in (await page.title())
            await page.get_by_label("User name").fill("browser-person")
            await page.screenshot(path=str(screenshot), full_page=True)
            await page.get_by_role("button", name="Approve").click()
            await page.wait_for_url(f"{REDIRECT}**", timeout=30_000)
            landed = page.url
            assert await page.inner_text("h1") == "Connected"
        finally:
            await context.close()

    assert size_of(screenshot) > 1000
    params = dict(parse_qsl(urlsplit(landed).query))
    assert params["connected"] == "x"
    (row,) = await stack.accounts_of(ws)
    assert params["account_id"] == str(row.id)
    async with stack.client(ws) as gateway:
        account = (await gateway.get(f"/v1/workspaces/{ws}/accounts/{row.id}")).json()
    assert account["username"] == "browser-person"
    # Every request the browser made went to loopback.
    assert seen
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in seen), seen
    assert any(f"{stack.connector.url}/v1/oauth/x/callback" in url for url in seen)
