from mooring.platforms import PlatformSettings
from mooring.platforms.simulator import simulator_environment, simulator_settings


def test_defaults_are_the_real_hosts():
    settings = PlatformSettings()
    assert settings.linkedin.auth_base == "https://www.linkedin.com"
    assert settings.linkedin.api_base == "https://api.linkedin.com"
    assert settings.x.api_base == "https://api.x.com"
    assert settings.facebook.graph_base == "https://graph.facebook.com"
    assert settings.instagram.token_base == "https://api.instagram.com"
    assert settings.youtube.token_base == "https://oauth2.googleapis.com"
    assert settings.mastodon.allowed_hosts == ()


def test_read_from_nested_environment_variables(monkeypatch):
    monkeypatch.setenv("MOORING_PLATFORM_X__CLIENT_ID", "x-client")
    monkeypatch.setenv("MOORING_PLATFORM_X__CLIENT_SECRET", "x-secret-value")
    monkeypatch.setenv("MOORING_PLATFORM_LINKEDIN_PAGE__API_BASE", "http://127.0.0.1:9/linkedin/")
    monkeypatch.setenv("MOORING_PLATFORM_MASTODON__ALLOWED_HOSTS", '["127.0.0.1:9"]')
    monkeypatch.setenv("MOORING_PLATFORM_HTTP__TIMEOUT_SECONDS", "3")
    settings = PlatformSettings()
    assert settings.x.client_id == "x-client"
    assert settings.x.client_secret.get_secret_value() == "x-secret-value"
    assert settings.linkedin_page.api_base == "http://127.0.0.1:9/linkedin"
    assert settings.mastodon.allowed_hosts == ("127.0.0.1:9",)
    assert settings.http.timeout().read == 3
    assert "x-secret-value" not in repr(settings)


def test_simulator_settings_and_environment_agree(monkeypatch):
    env = simulator_environment("http://127.0.0.1:8990/")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from_env = PlatformSettings()
    direct = simulator_settings("http://127.0.0.1:8990")
    assert from_env == direct
    assert direct.youtube.token_base == "http://127.0.0.1:8990/google"
    assert direct.bluesky.plc_directory_base == "http://127.0.0.1:8990/bluesky/plc"
    assert direct.mastodon.allowed_hosts == ("127.0.0.1:8990",)
