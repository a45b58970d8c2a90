"""Every precedence rule of docs/configuration.md ("Precedence"), one test (or more) each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from faktory_core import settings
from faktory_core.config import Config, Timings
from faktory_core.protocol.buffer import DEFAULT_MAX_LINE
from faktory_core.settings import ConfigError, build_config, reload_config

WriteConf = Callable[[str, str], Path]


def test_development_defaults(environ: dict[str, str]) -> None:
    config = build_config([], environ)
    home = Path(environ["HOME"])
    assert config.binding == "localhost:7419"
    assert config.web_binding == "localhost:7420"
    assert config.environment == "development"
    assert config.log_level == "info"
    assert config.storage_dir == home / ".faktory" / "db"
    assert config.config_dir == home / ".faktory"
    assert config.password == ""
    assert config.web_password == ""
    assert config.max_line == DEFAULT_MAX_LINE
    assert config.max_connections == 2000
    assert config.plugins == ()
    assert config.cron == ()
    assert dict(config.toml) == {}


def test_development_reads_conf_d_under_home(environ: dict[str, str]) -> None:
    conf_d = Path(environ["HOME"]) / ".faktory" / "conf.d"
    conf_d.mkdir(parents=True)
    (conf_d / "faktory.toml").write_text('[faktory]\nbinding = ":7419"\n')
    assert build_config([], environ).binding == ":7419"


def test_server_directories_outside_development(
    environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert str(settings.SERVER_STORAGE_DIR) == "/var/lib/faktory/db"
    assert str(settings.SERVER_CONFIG_DIR) == "/etc/faktory"
    # Point the /etc/faktory default somewhere empty so the host's files do not matter.
    monkeypatch.setattr(settings, "SERVER_CONFIG_DIR", tmp_path / "etc-faktory")
    config = build_config(["-e", "production"], {**environ, "FAKTORY_PASSWORD": "s3cret"})
    assert config.storage_dir == Path("/var/lib/faktory/db")
    assert config.config_dir == tmp_path / "etc-faktory"


# -- environment -----------------------------------------------------------------------------


def test_faktory_env_sets_the_environment(environ: dict[str, str], conf: Path) -> None:
    environ |= {"FAKTORY_ENV": "staging", "FAKTORY_SKIP_PASSWORD": "1"}
    assert build_config(["-c", str(conf)], environ).environment == "staging"


def test_e_flag_beats_faktory_env(environ: dict[str, str], conf: Path) -> None:
    environ |= {"FAKTORY_ENV": "staging", "FAKTORY_SKIP_PASSWORD": "1"}
    assert build_config(["-e", "production", "-c", str(conf)], environ).environment == "production"
    assert build_config(["-e", "development"], environ).environment == "development"


def test_empty_faktory_env_means_development(environ: dict[str, str]) -> None:
    assert build_config([], {**environ, "FAKTORY_ENV": ""}).environment == "development"


@pytest.mark.parametrize(
    ("argv", "env", "bad"),
    [
        (["-e", "prod"], {}, "prod"),
        (["-e", ""], {}, ""),
        ([], {"FAKTORY_ENV": "Production"}, "Production"),
    ],
)
def test_invalid_environment(
    environ: dict[str, str], argv: list[str], env: dict[str, str], bad: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(argv, {**environ, **env})
    assert str(caught.value) == (
        f'Invalid environment "{bad}": legal values are development, staging or production'
    )


# -- directories -----------------------------------------------------------------------------


def test_d_and_c_flags_beat_the_defaults(environ: dict[str, str], tmp_path: Path) -> None:
    config = build_config(["-d", str(tmp_path / "db"), "-c", str(tmp_path / "cfg")], environ)
    assert config.storage_dir == tmp_path / "db"
    assert config.config_dir == tmp_path / "cfg"


def test_c_flag_chooses_the_conf_d_read(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nbinding = "0.0.0.0:7419"\n')
    assert build_config(["-c", str(conf)], environ).binding == "0.0.0.0:7419"
    assert build_config([], environ).binding == "localhost:7419"


# -- bindings --------------------------------------------------------------------------------


def test_toml_binding_beats_the_default(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nbinding = ":17419"\n[web]\nbinding = ":17420"\n')
    config = build_config(["-c", str(conf)], environ)
    assert (config.binding, config.web_binding) == (":17419", ":17420")


def test_explicit_flag_beats_toml_binding(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nbinding = ":17419"\n[web]\nbinding = ":17420"\n')
    config = build_config(["-c", str(conf), "-b", "127.0.0.1:1", "-w", ":0"], environ)
    assert (config.binding, config.web_binding) == ("127.0.0.1:1", ":0")


def test_explicit_flag_equal_to_the_default_still_wins(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    # Faktory compares -b with its default string; we tell "given" from "not given".
    write_conf("a.toml", '[faktory]\nbinding = ":17419"\n[web]\nbinding = ":17420"\n')
    argv = ["-c", str(conf), "-b", "localhost:7419", "-w", "localhost:7420"]
    config = build_config(argv, environ)
    assert (config.binding, config.web_binding) == ("localhost:7419", "localhost:7420")


@pytest.mark.parametrize("binding", ["nonsense", "host:", "host:port", "h:70000"])
def test_bad_binding_is_an_error(environ: dict[str, str], binding: str) -> None:
    with pytest.raises(ConfigError, match=r"invalid binding .* \(-b\): expected host:port"):
        build_config(["-b", binding], environ)


def test_bad_toml_binding_names_the_file(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    path = write_conf("web.toml", '[web]\nbinding = "nowhere"\n')
    with pytest.raises(ConfigError, match=r"\[web\] binding in .*web\.toml"):
        build_config(["-c", str(conf)], environ)
    assert path.exists()


def test_toml_binding_must_be_a_string(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", "[faktory]\nbinding = 7419\n")
    with pytest.raises(ConfigError, match=r"a\.toml: \[faktory\] binding must be a string"):
        build_config(["-c", str(conf)], environ)


# -- log level, plugins, limits ---------------------------------------------------------------


@pytest.mark.parametrize("level", ["error", "warn", "info", "debug"])
def test_l_flag_sets_the_log_level(environ: dict[str, str], level: str) -> None:
    assert build_config(["-l", level], environ).log_level == level


def test_plugins_from_flags_then_toml_without_duplicates(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nplugins = ["redis_store", "metrics"]\n')
    argv = ["-c", str(conf), "--plugin", "audit", "--plugin", "metrics", "--no-plugin", "cron"]
    config = build_config(argv, environ)
    assert config.plugins == ("audit", "metrics", "redis_store")
    assert config.disabled_plugins == ("cron",)


def test_toml_plugins_must_be_a_list_of_names(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nplugins = "redis_store"\n')
    with pytest.raises(ConfigError, match=r"\[faktory\] plugins must be a list of strings"):
        build_config(["-c", str(conf)], environ)


def test_limits_from_toml(environ: dict[str, str], conf: Path, write_conf: WriteConf) -> None:
    write_conf("a.toml", "[faktory]\nmax_line = 4096\nmax_connections = 10\n")
    config = build_config(["-c", str(conf)], environ)
    assert (config.max_line, config.max_connections) == (4096, 10)


def test_hardening_limits_from_toml(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    from faktory_core.config import LIMIT_KEYS, Config

    write_conf(
        "a.toml", "[faktory]\n" + "".join(f"{k} = {n + 7}\n" for n, k in enumerate(LIMIT_KEYS))
    )
    config = build_config(["-c", str(conf)], environ)
    assert [getattr(config, k) for k in LIMIT_KEYS] == [n + 7 for n in range(len(LIMIT_KEYS))]
    defaults = build_config([], environ)
    assert [getattr(defaults, k) for k in LIMIT_KEYS] == [getattr(Config(), k) for k in LIMIT_KEYS]
    write_conf("a.toml", "[faktory]\nidle_timeout = 0\n")
    with pytest.raises(ConfigError, match=r"\[faktory\] idle_timeout must be a positive integer"):
        build_config(["-c", str(conf)], environ)


@pytest.mark.parametrize("value", ["0", "-1", "true", '"10"', "1.5"])
def test_limits_must_be_positive_integers(
    environ: dict[str, str], conf: Path, write_conf: WriteConf, value: str
) -> None:
    write_conf("a.toml", f"[faktory]\nmax_line = {value}\n")
    with pytest.raises(ConfigError, match=r"\[faktory\] max_line must be a positive integer"):
        build_config(["-c", str(conf)], environ)


def test_a_known_table_must_be_a_table(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", 'faktory = "yes"\n')
    with pytest.raises(ConfigError, match=r"a\.toml: faktory must be a table"):
        build_config(["-c", str(conf)], environ)


# -- reload ----------------------------------------------------------------------------------


def test_reload_keeps_boot_only_settings_and_says_so(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nbinding = ":17419"\npassword = "one"\nplugins = ["x"]\n')
    argv = ["-c", str(conf), "--no-plugin", "cron"]
    boot = build_config(argv, environ)
    write_conf(
        "a.toml",
        '[faktory]\nbinding = ":27419"\npassword = "two"\nplugins = ["y"]\nmax_line = 99\n'
        '[web]\nbinding = ":27420"\npassword = "web"\n[[cron]]\nschedule = "* * * * *"\n',
    )
    fresh, notes = reload_config(boot, argv, environ)
    assert fresh.binding == ":17419"
    assert fresh.web_binding == "localhost:7420"
    assert fresh.password == "one"
    assert fresh.plugins == ("x",)
    assert fresh.disabled_plugins == ("cron",)
    # What does reload:
    assert fresh.max_line == 99
    assert fresh.web_password == "web"
    assert fresh.cron == ({"schedule": "* * * * *"},)
    assert fresh.toml["faktory"]["password"] == "two"
    assert len(notes) == 4
    assert any("[faktory] binding changed to ':27419'" in note for note in notes)
    assert any("[web] binding" in note for note in notes)
    assert any("[faktory] plugins" in note for note in notes)
    assert any("[faktory] password changed" in note for note in notes)


def test_reload_without_changes_has_no_notes(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[faktory]\nbinding = ":17419"\n')
    argv = ["-c", str(conf)]
    boot = build_config(argv, environ)
    fresh, notes = reload_config(boot, argv, environ)
    assert (fresh, notes) == (boot, [])


def test_reload_keeps_the_running_timings(environ: dict[str, str], conf: Path) -> None:
    argv = ["-c", str(conf)]
    running = attrs.evolve(build_config(argv, environ), timings=Timings(fetch_block=0.1))
    fresh, _ = reload_config(running, argv, environ)
    assert fresh.timings == Timings(fetch_block=0.1)


def test_reload_does_not_require_the_password_again(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    path = write_conf("a.toml", '[faktory]\npassword = "one"\n')
    argv = ["-e", "production", "-c", str(conf)]
    boot = build_config(argv, environ)
    path.unlink()
    fresh, _ = reload_config(boot, argv, environ)
    assert fresh.password == "one"


def test_reload_rejects_a_bad_file(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    argv = ["-c", str(conf)]
    boot = build_config(argv, environ)
    write_conf("bad.toml", "[faktory\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: .*line 1"):
        reload_config(boot, argv, environ)


def test_config_is_frozen_and_hashable(environ: dict[str, str], conf: Path) -> None:
    config = build_config(["-c", str(conf)], environ)
    with pytest.raises(AttributeError):
        config.binding = "x"  # type: ignore[misc]
    assert hash(config) == hash(build_config(["-c", str(conf)], environ))
    assert isinstance(config, Config)
