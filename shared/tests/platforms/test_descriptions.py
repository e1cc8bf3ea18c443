import httpx
import pytest

from mooring.platforms import (
    AuthMethod,
    PlatformError,
    PlatformSettings,
    RefreshModel,
    SelectionStep,
    get_adapter,
    get_oauth_adapter,
    list_descriptions,
)

IDENTIFIERS = [
    "linkedin",
    "linkedin-page",
    "x",
    "facebook",
    "instagram",
    "instagram-facebook",
    "tiktok",
    "youtube",
    "threads",
    "pinterest",
    "bluesky",
    "mastodon",
]


def test_the_twelve_platforms_are_described_in_order():
    assert [d.identifier for d in list_descriptions()] == IDENTIFIERS


def test_descriptions_carry_the_facts_the_services_act_on():
    by_id = {d.identifier: d for d in list_descriptions()}
    assert by_id["x"].pkce
    assert by_id["x"].refresh_model is RefreshModel.ROTATING
    assert by_id["youtube"].refresh_model is RefreshModel.NON_ROTATING
    assert by_id["instagram"].refresh_model is RefreshModel.EXTEND_IN_PLACE
    assert by_id["threads"].refresh_min_age_seconds == 24 * 3600
    assert by_id["bluesky"].auth_method is AuthMethod.APP_PASSWORD
    assert by_id["bluesky"].refresh_model is RefreshModel.SESSION
    assert by_id["mastodon"].auth_method is AuthMethod.PER_INSTANCE_OAUTH2
    assert by_id["facebook"].selection is SelectionStep.PAGES
    assert by_id["instagram-facebook"].selection is SelectionStep.INSTAGRAM_VIA_PAGE
    assert by_id["linkedin-page"].selection is SelectionStep.ORGANISATIONS
    assert by_id["youtube"].selection is SelectionStep.CHANNELS
    assert "offline.access" in by_id["x"].scopes


@pytest.mark.parametrize("identifier", IDENTIFIERS)
async def test_the_registry_builds_every_adapter_around_the_injected_client(identifier):
    async with httpx.AsyncClient() as client:
        adapter = get_adapter(identifier, PlatformSettings(), client)
        assert adapter.description.identifier == identifier


async def test_unknown_platforms_and_oauth_on_bluesky_are_refused():
    async with httpx.AsyncClient() as client:
        with pytest.raises(PlatformError):
            get_adapter("myspace", PlatformSettings(), client)
        with pytest.raises(PlatformError, match="app passwords"):
            get_oauth_adapter("bluesky", PlatformSettings(), client)
