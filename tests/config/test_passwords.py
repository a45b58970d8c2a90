"""The password rules (reference §10.3; Faktory's cli/security_test.go), each one tested."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from faktory_core.settings import PASSWORD_REQUIRED, ConfigError, build_config, redacted

WriteConf = Callable[[str, str], Path]

REQUIRED = (
    "faktory requires a password to be set in staging or production, see the Security wiki page"
)
PWD = "cce29d6565ab7376"


def _password(argv: list[str], environ: dict[str, str]) -> str:
    return build_config(argv, environ).password


def test_the_message_is_faktorys() -> None:
    assert PASSWORD_REQUIRED == REQUIRED


def test_development_without_a_password(environ: dict[str, str], conf: Path) -> None:
    assert _password(["-c", str(conf)], environ) == ""


def test_development_with_a_toml_password(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", f'[faktory]\npassword = "{PWD}"\n')
    assert _password(["-c", str(conf)], environ) == PWD


@pytest.mark.parametrize("env", ["staging", "production"])
def test_staging_and_production_refuse_to_start_without_one(
    environ: dict[str, str], conf: Path, env: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(["-e", env, "-c", str(conf)], environ)
    assert str(caught.value) == REQUIRED


def test_faktory_env_production_also_requires_one(environ: dict[str, str], conf: Path) -> None:
    with pytest.raises(ConfigError, match="requires a password"):
        build_config(["-c", str(conf)], {**environ, "FAKTORY_ENV": "production"})


def test_production_with_a_toml_password(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", f'[faktory]\npassword = "{PWD}"\n')
    assert _password(["-e", "production", "-c", str(conf)], environ) == PWD


def test_production_with_a_toml_password_file(
    environ: dict[str, str], conf: Path, write_conf: WriteConf, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("  foobar\n\n")
    write_conf("a.toml", f'[faktory]\npassword = "{secret}"\n')
    assert _password(["-e", "production", "-c", str(conf)], environ) == "foobar"


def test_env_password(environ: dict[str, str], conf: Path) -> None:
    environ["FAKTORY_PASSWORD"] = "abc123"
    assert _password(["-e", "production", "-c", str(conf)], environ) == "abc123"
    assert _password(["-c", str(conf)], environ) == "abc123"


def test_env_password_beats_toml(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", f'[faktory]\npassword = "{PWD}"\n')
    environ["FAKTORY_PASSWORD"] = "abc123"
    assert _password(["-e", "production", "-c", str(conf)], environ) == "abc123"


def test_env_password_set_but_empty_still_beats_toml(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", f'[faktory]\npassword = "{PWD}"\n')
    environ["FAKTORY_PASSWORD"] = ""
    assert _password(["-c", str(conf)], environ) == ""
    with pytest.raises(ConfigError, match="requires a password"):
        build_config(["-e", "production", "-c", str(conf)], environ)


def test_env_password_file_form(environ: dict[str, str], conf: Path, tmp_path: Path) -> None:
    secret = tmp_path / "docker-secret"
    secret.write_text("\tfrom-a-file \n")
    environ["FAKTORY_PASSWORD"] = str(secret)
    assert _password(["-e", "production", "-c", str(conf)], environ) == "from-a-file"
    # The file form applies in development too.
    assert _password(["-c", str(conf)], environ) == "from-a-file"


def test_a_password_file_that_is_empty_counts_as_no_password(
    environ: dict[str, str], conf: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "empty"
    secret.write_text(" \n")
    environ["FAKTORY_PASSWORD"] = str(secret)
    assert _password(["-c", str(conf)], environ) == ""
    with pytest.raises(ConfigError, match="requires a password"):
        build_config(["-e", "production", "-c", str(conf)], environ)


def test_a_missing_password_file_is_a_clear_error(
    environ: dict[str, str], conf: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope"
    environ["FAKTORY_PASSWORD"] = str(missing)
    with pytest.raises(ConfigError) as caught:
        build_config(["-c", str(conf)], environ)
    assert str(caught.value) == (
        f"cannot read the password file {missing} (FAKTORY_PASSWORD): No such file or directory"
    )


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_skip_password(environ: dict[str, str], conf: Path, value: str) -> None:
    environ["FAKTORY_SKIP_PASSWORD"] = value
    assert _password(["-e", "production", "-c", str(conf)], environ) == ""
    assert _password(["-e", "staging", "-c", str(conf)], environ) == ""


@pytest.mark.parametrize("value", ["", "0", "no", "false", "TRUE", "Yes"])
def test_other_skip_values_do_not_skip(environ: dict[str, str], conf: Path, value: str) -> None:
    environ["FAKTORY_SKIP_PASSWORD"] = value
    with pytest.raises(ConfigError, match="requires a password"):
        build_config(["-e", "production", "-c", str(conf)], environ)


def test_skip_does_not_hide_a_given_password(environ: dict[str, str], conf: Path) -> None:
    environ |= {"FAKTORY_SKIP_PASSWORD": "1", "FAKTORY_PASSWORD": "given"}
    assert _password(["-e", "production", "-c", str(conf)], environ) == "given"


# -- <config dir>/password (Faktory: /etc/faktory/password) ---------------------------------


def test_config_dir_password_file_outside_development(environ: dict[str, str], conf: Path) -> None:
    (conf / "password").write_text("0123456789abcdef\n")
    assert _password(["-e", "production", "-c", str(conf)], environ) == "0123456789abcdef"
    assert _password(["-e", "staging", "-c", str(conf)], environ) == "0123456789abcdef"


def test_config_dir_password_file_is_ignored_in_development(
    environ: dict[str, str], conf: Path
) -> None:
    (conf / "password").write_text("0123456789abcdef\n")
    assert _password(["-c", str(conf)], environ) == ""


def test_config_dir_password_file_is_ignored_when_skipping(
    environ: dict[str, str], conf: Path
) -> None:
    (conf / "password").write_text("0123456789abcdef\n")
    environ["FAKTORY_SKIP_PASSWORD"] = "yes"
    assert _password(["-e", "production", "-c", str(conf)], environ) == ""


def test_config_dir_password_file_only_when_nothing_else_is_set(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    (conf / "password").write_text("from-the-file")
    write_conf("a.toml", '[faktory]\npassword = "from-toml"\n')
    argv = ["-e", "production", "-c", str(conf)]
    assert _password(argv, environ) == "from-toml"
    assert _password(argv, {**environ, "FAKTORY_PASSWORD": "from-env"}) == "from-env"
    # Set but empty: nothing else was given, so the file is used.
    assert _password(argv, {**environ, "FAKTORY_PASSWORD": ""}) == "from-the-file"


def test_config_dir_password_file_empty_still_refuses(environ: dict[str, str], conf: Path) -> None:
    (conf / "password").write_text("\n")
    with pytest.raises(ConfigError, match="requires a password"):
        build_config(["-e", "production", "-c", str(conf)], environ)


def test_relative_config_dir_password_file(
    environ: dict[str, str], conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (conf / "password").write_text("relative")
    monkeypatch.chdir(conf.parent)
    assert _password(["-e", "production", "-c", conf.name], environ) == "relative"


# -- the web UI password --------------------------------------------------------------------


def test_web_password_falls_back_to_the_server_password(
    environ: dict[str, str], conf: Path
) -> None:
    config = build_config(["-c", str(conf)], {**environ, "FAKTORY_PASSWORD": "server"})
    assert config.web_password == ""
    assert config.web_ui_password == "server"


def test_web_password_from_toml(environ: dict[str, str], conf: Path, write_conf: WriteConf) -> None:
    write_conf("a.toml", '[web]\npassword = "web"\n')
    config = build_config(["-c", str(conf)], {**environ, "FAKTORY_PASSWORD": "server"})
    assert (config.password, config.web_password, config.web_ui_password) == (
        "server",
        "web",
        "web",
    )


def test_web_password_env_beats_toml(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[web]\npassword = "web"\n')
    config = build_config(["-c", str(conf)], {**environ, "FAKTORY_WEBUI_PASSWORD": "env"})
    assert config.web_password == "env"


def test_web_password_file_form(
    environ: dict[str, str], conf: Path, write_conf: WriteConf, tmp_path: Path
) -> None:
    secret = tmp_path / "web-secret"
    secret.write_text("webfile\n")
    write_conf("a.toml", f'[web]\npassword = "{secret}"\n')
    assert build_config(["-c", str(conf)], environ).web_password == "webfile"


def test_web_password_does_not_satisfy_the_requirement(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[web]\npassword = "web"\n')
    with pytest.raises(ConfigError, match="requires a password"):
        build_config(["-e", "production", "-c", str(conf)], environ)


# -- masking ----------------------------------------------------------------------------------


def test_passwords_are_masked_for_logging(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", f'[faktory]\npassword = "{PWD}"\n[web]\npassword = "w"\nbinding=":0"\n')
    config = build_config(["-c", str(conf)], environ)
    shown = redacted(config)
    assert shown == {
        "faktory": {"password": "********"},
        "web": {"password": "********", "binding": ":0"},
    }
    assert PWD not in repr(shown)
    assert config.toml["faktory"]["password"] == PWD  # the config itself is untouched
