"""Where the client connects: arguments, FAKTORY_PROVIDER, FAKTORY_URL, FAKTORY_CONNECTIONS."""

from __future__ import annotations

import ssl

import pytest

from faktory_core.client import ConfigError, Settings
from faktory_core.client.settings import DEFAULT_CONNECTIONS


def test_default_is_localhost_without_password() -> None:
    settings = Settings.from_env(environ={})
    assert (settings.host, settings.port, settings.password, settings.tls) == (
        "localhost",
        7419,
        None,
        False,
    )
    assert settings.connections == DEFAULT_CONNECTIONS


def test_faktory_url_with_password_and_port() -> None:
    settings = Settings.from_env(environ={"FAKTORY_URL": "tcp://:s3cret@faktory.example:7500"})
    assert (settings.host, settings.port, settings.password) == ("faktory.example", 7500, "s3cret")


def test_password_is_percent_decoded_and_port_defaults() -> None:
    settings = Settings.from_url("tcp://:p%40ss%3Aword@example")
    assert settings.password == "p@ss:word"
    assert settings.port == 7419


def test_tls_scheme() -> None:
    settings = Settings.from_url("tcp+tls://secure.example:7419")
    assert settings.tls
    context = settings.make_ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert Settings.from_url("tcp://plain").make_ssl_context() is None


def test_a_given_ssl_context_is_used() -> None:
    context = ssl.create_default_context()
    assert Settings.from_url("tcp+tls://x", ssl_context=context).make_ssl_context() is context


def test_provider_names_the_variable_holding_the_url() -> None:
    env = {
        "FAKTORY_PROVIDER": "MY_FAKTORY",
        "MY_FAKTORY": "tcp://:pw@provided:7777",
        "FAKTORY_URL": "tcp://ignored:1",
    }
    settings = Settings.from_env(environ=env)
    assert (settings.host, settings.port, settings.password) == ("provided", 7777, "pw")


def test_provider_must_not_be_a_url() -> None:
    with pytest.raises(ConfigError, match="FAKTORY_PROVIDER is not a URL"):
        Settings.from_env(environ={"FAKTORY_PROVIDER": "tcp://host:7419"})


def test_provider_naming_an_unset_variable_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'NOPE', which is not set"):
        Settings.from_env(environ={"FAKTORY_PROVIDER": "NOPE"})


def test_argument_url_wins_over_environment() -> None:
    env = {"FAKTORY_URL": "tcp://from-env:1"}
    assert Settings.from_env("tcp://from-arg:2", environ=env).host == "from-arg"


def test_keyword_overrides_win_over_the_url() -> None:
    settings = Settings.from_env(
        "tcp://:url-pw@h:1", environ={}, password="arg-pw", connections=3, timeout=5.0
    )
    assert (settings.password, settings.connections, settings.timeout) == ("arg-pw", 3, 5.0)


def test_pool_size_from_environment() -> None:
    assert Settings.from_env(environ={"FAKTORY_CONNECTIONS": "4"}).connections == 4
    assert Settings.from_env(environ={"FAKTORY_CONNECTIONS": "4"}, connections=2).connections == 2


@pytest.mark.parametrize("value", ["many", "0", "-1"])
def test_bad_pool_size(value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(environ={"FAKTORY_CONNECTIONS": value})


@pytest.mark.parametrize("connections", [0, -1])
def test_bad_pool_size_from_argument(connections: int) -> None:
    """Checked on Settings itself, so every way of building one refuses an empty pool."""
    with pytest.raises(ConfigError, match="at least one connection"):
        Settings(connections=connections)
    with pytest.raises(ConfigError, match="at least one connection"):
        Settings.from_url("tcp://host", connections=connections)
    with pytest.raises(ConfigError, match="at least one connection"):
        Settings().with_pool(connections)


@pytest.mark.parametrize("url", ["http://host:7419", "redis://host", "tcp://host:notaport"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_url(url)


def test_empty_password_means_none() -> None:
    assert Settings.from_url("tcp://:@host").password is None
