"""The demo's browser: an OAuth connect as a person's browser does it, one hop at a time.

authorize  GET the authorization URL at the platform (the simulator): its consent page;
consent    submit the page's form as `user`, approving: a 302 to the connector's callback with
           the code and the state;
callback   GET that URL at the connector (no gateway token: the browser has none), which
           answers with a 303 to the landing URL the connect started with.

No redirect is followed blindly, so each hop is checked, and the landing page itself (the
scheduler's front end, not running here) is never requested.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

__all__ = ["BrowserError", "authorize"]


class BrowserError(Exception):
    """A hop answered something a browser could not go on from."""


class _ConsentForm(HTMLParser):
    """The first form of the page: where it posts and its named inputs' values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


async def authorize(
    platform_browser: httpx.AsyncClient,
    connector_browser: httpx.AsyncClient,
    authorization_url: str,
    user: str,
) -> dict[str, str]:
    """Consent as `user` and come back through the connector; the landing URL's query."""
    page = await platform_browser.get(authorization_url)
    if page.status_code != 200 or "<form" not in page.text:
        raise BrowserError(f"the platform's authorize page answered {page.status_code}")
    form = _ConsentForm()
    form.feed(page.text)
    if not form.action:
        raise BrowserError("the consent page has no form")
    # The person types their name and presses "Approve" (the button's name and value).
    submitted = form.fields | {"sim_user": user, "sim_decision": "approve"}
    consented = await platform_browser.post(urljoin(authorization_url, form.action), data=submitted)
    if consented.status_code != 302:
        raise BrowserError(f"approving the consent answered {consented.status_code}")
    # Meta appends "#_" to its redirects; a browser never sends a fragment.
    callback = consented.headers["location"].split("#", 1)[0]
    landed = await connector_browser.get(callback)
    if landed.status_code != 303:
        raise BrowserError(f"the connector's callback answered {landed.status_code}")
    return dict(parse_qsl(urlsplit(landed.headers["location"]).query))
