"""The metrics plugin's settings: ``[metrics]`` and ``[statsd]`` in conf.d, ``DD_DOGSTATSD_URL``.

Every problem is a :class:`MetricsConfigError` naming the table, the key and what was expected;
the server refuses to start with it (on SIGHUP the old settings stay).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

__all__ = [
    "DD_URL",
    "DEFAULT_STATSD_PORT",
    "MetricsConfigError",
    "MetricsSettings",
    "StatsdSettings",
    "metrics_settings",
    "statsd_settings",
]

DD_URL = "DD_DOGSTATSD_URL"
DEFAULT_STATSD_PORT = 8125
DEFAULT_NAMESPACE = "faktory."
DEFAULT_BUFFER = 15
_TAG = re.compile(r"[a-zA-Z][\w\-:./]*")


class MetricsConfigError(ValueError):
    """A bad ``[metrics]`` or ``[statsd]`` setting."""


@attrs.frozen
class MetricsSettings:
    #: ``host:port`` of a listener of the plugin's own for ``GET /metrics`` ("" for none).
    listen: str = ""
    #: Serve ``/metrics`` without the web UI's password.
    open: bool = False
    max_jobtypes: int = 1000
    max_queues: int = 1000


@attrs.frozen
class StatsdSettings:
    #: ``("udp", host, port)`` or ``("unix", path, 0)``.
    address: tuple[str, str, int]
    namespace: str = DEFAULT_NAMESPACE
    tags: tuple[str, ...] = ()
    buffer_size: int = DEFAULT_BUFFER
    queue_latency: tuple[str, ...] = ()


def _table(toml: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = toml.get(name, {})
    if not isinstance(table, Mapping):
        raise MetricsConfigError(f"[{name}] must be a table")
    return table


def _typed(table: Mapping[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MetricsConfigError(f"[{where}] {key} must be a {kind.__name__}, not {value!r}")
    return value


def _positive(table: Mapping[str, Any], where: str, key: str, default: int) -> int:
    value: int = _typed(table, where, key, int, default)
    if value < 1:
        raise MetricsConfigError(f"[{where}] {key} must be at least 1, not {value}")
    return value


def _strings(table: Mapping[str, Any], where: str, key: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MetricsConfigError(f"[{where}] {key} must be a list of strings, not {value!r}")
    return tuple(value)


def metrics_settings(toml: Mapping[str, Any]) -> MetricsSettings:
    table = _table(toml, "metrics")
    unknown = set(table) - {f.name for f in attrs.fields(MetricsSettings)}
    if unknown:
        raise MetricsConfigError(f"[metrics] has unknown keys: {', '.join(sorted(unknown))}")
    listen: str = _typed(table, "metrics", "listen", str, "")
    if listen and not _host_port(listen):
        raise MetricsConfigError(f"[metrics] listen must be host:port, not {listen!r}")
    return MetricsSettings(
        listen=listen,
        open=_typed(table, "metrics", "open", bool, False),
        max_jobtypes=_positive(table, "metrics", "max_jobtypes", 1000),
        max_queues=_positive(table, "metrics", "max_queues", 1000),
    )


def _host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        return None
    return host.strip("[]"), int(port)


def parse_address(text: str, where: str) -> tuple[str, str, int]:
    """``host:port``, ``udp://host[:port]`` or ``unix:///path`` as an address."""
    if text.startswith("unix://"):
        path = text[len("unix://") :]
        if not path.startswith("/"):
            raise MetricsConfigError(f"{where}: {text!r} needs an absolute socket path")
        return ("unix", path, 0)
    if text.startswith("udp://"):
        parts = urlsplit(text)
        try:
            port = parts.port or DEFAULT_STATSD_PORT
        except ValueError:
            port = -1
        if not parts.hostname or port < 0:
            raise MetricsConfigError(f"{where}: {text!r} is not udp://host[:port]")
        return ("udp", parts.hostname, port)
    found = _host_port(text)
    if found is None or not found[0]:
        raise MetricsConfigError(f"{where}: {text!r} is not host:port")
    return ("udp", *found)


def statsd_settings(toml: Mapping[str, Any], environ: Mapping[str, str]) -> StatsdSettings | None:
    """The statsd settings, or None when neither ``[statsd]`` nor ``DD_DOGSTATSD_URL`` is set.

    ``DD_DOGSTATSD_URL`` replaces ``location``; the table's other keys still apply."""
    table = _table(toml, "statsd")
    url = environ.get(DD_URL, "")
    if not table and not url:
        return None
    if url:
        address = parse_address(url, DD_URL)
    else:
        location = _typed(table, "statsd", "location", str, "")
        if not location:
            raise MetricsConfigError(f"[statsd] location is required (host:port) unless {DD_URL}")
        address = parse_address(location, "[statsd] location")
    tags = _strings(table, "statsd", "tags")
    bad = [tag for tag in tags if not _TAG.fullmatch(tag)]
    if bad:
        raise MetricsConfigError(
            f"[statsd] tags must start with a letter and hold only letters, digits and "
            f"_-:./; not {', '.join(map(repr, bad))}"
        )
    return StatsdSettings(
        address=address,
        namespace=_typed(table, "statsd", "namespace", str, DEFAULT_NAMESPACE),
        tags=tags,
        buffer_size=_positive(table, "statsd", "bufferSize", DEFAULT_BUFFER),
        queue_latency=_strings(table, "statsd", "queueLatency"),
    )
