import pytest
from pydantic import SecretStr

from mooring.accounts import Credentials


def test_unparseable_credentials_never_quote_their_content() -> None:
    with pytest.raises(ValueError, match="stored credentials do not parse") as info:
        Credentials.from_plaintext('{"access_token": ["S3CR3T-opaque"]}')
    assert "S3CR3T" not in str(info.value)
    newer = Credentials.from_plaintext('{"access_token": "a", "field_from_the_future": 1}')
    assert newer.access_token is not None


def test_a_refresh_without_a_refresh_token_keeps_the_stored_one() -> None:
    stored = Credentials(access_token=SecretStr("old"), refresh_token=SecretStr("keep-me"))
    refreshed = stored.with_refresh(access_token="new", refresh_token=None)
    assert refreshed.access_token is not None
    assert refreshed.access_token.get_secret_value() == "new"
    assert refreshed.refresh_token is not None
    assert refreshed.refresh_token.get_secret_value() == "keep-me"
    rotated = stored.with_refresh(access_token="new", refresh_token="rotated")
    assert rotated.refresh_token is not None
    assert rotated.refresh_token.get_secret_value() == "rotated"
    assert "keep-me" not in repr(stored)
