import pytest

from mooring.settings import DatabaseSettings, KafkaSettings


def test_plain_postgres_urls_get_the_psycopg_driver() -> None:
    assert DatabaseSettings(url="postgresql://u@h/db").url == "postgresql+psycopg://u@h/db"
    assert DatabaseSettings(url="postgres://u@h/db").url == "postgresql+psycopg://u@h/db"
    settings = DatabaseSettings(url="postgresql+psycopg://u@h/db")
    assert settings.libpq_url == "postgresql://u@h/db"


def test_infrastructure_settings_read_the_well_known_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@b/c")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert DatabaseSettings().url == "postgresql+psycopg://a@b/c"
    assert KafkaSettings().bootstrap_servers == "127.0.0.1:1"
