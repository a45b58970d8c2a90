"""Timestamps as Faktory writes (RFC3339Nano, UTC, trimmed) and reads them (Go's layout)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts, utc_day

T = 1735787045  # 2025-01-02T03:04:05Z


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (0.0, "1970-01-01T00:00:00Z"),
        (T, "2025-01-02T03:04:05Z"),
        (T + 0.5, "2025-01-02T03:04:05.5Z"),
        (T + 0.12, "2025-01-02T03:04:05.12Z"),
        (T + 0.1, "2025-01-02T03:04:05.1Z"),
        (T + 0.000001, "2025-01-02T03:04:05.000001Z"),
        (T + 0.123456, "2025-01-02T03:04:05.123456Z"),
        (T + 0.25, "2025-01-02T03:04:05.25Z"),
        (T + 0.9999996, "2025-01-02T03:04:06Z"),  # rounding carries into the seconds
        (T + 0.0000004, "2025-01-02T03:04:05Z"),
        (951782400, "2000-02-29T00:00:00Z"),
        (4102444799.5, "2099-12-31T23:59:59.5Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (-0.5, "1969-12-31T23:59:59.5Z"),
    ],
)
def test_format_ts(seconds: float, text: str) -> None:
    assert format_ts(seconds) == text


def test_format_ts_is_go_rfc3339nano_trimmed() -> None:
    for micros in range(0, 1_000_000, 7919):
        text = format_ts(T + micros / 1_000_000)
        assert text.startswith("2025-01-02T03:04:05")
        assert text.endswith("Z")
        if "." in text:
            fraction = text[len("2025-01-02T03:04:05.") : -1]
            assert 1 <= len(fraction) <= 6
            assert not fraction.endswith("0")
        else:
            assert micros == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2025-01-02T03:04:05Z", T),
        ("2025-01-02T03:04:05.5Z", T + 0.5),
        ("2025-01-02T03:04:05.1Z", T + 0.1),
        ("2025-01-02T03:04:05.000000001Z", T + 1e-9),
        ("2025-01-02T03:04:05.123456789Z", T + 0.123456789),
        ("2025-01-02T03:04:05.120Z", T + 0.12),
        ("2025-01-02T03:04:05+00:00", T),
        ("2025-01-02T03:04:05-00:00", T),
        ("2025-01-02T05:04:05+02:00", T),
        ("2025-01-02T08:34:05+05:30", T),
        ("2025-01-01T20:04:05-07:00", T),
        ("2025-01-02T05:04:05.5+02:00", T + 0.5),
        ("2025-01-02T03:04:05+23:59", T - 23 * 3600 - 59 * 60),
        ("2024-02-29T00:00:00Z", 1709164800),  # a leap day
        ("1970-01-01T00:00:00Z", 0),
        ("0001-01-01T00:00:00Z", -62135596800),  # Go's zero time
        ("9999-12-31T23:59:59Z", 253402300799),
    ],
)
def test_parse_ts(text: str, seconds: float) -> None:
    assert parse_ts(text) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-01-02t03:04:05Z",  # lowercase t
        "2025-01-02 03:04:05Z",  # space instead of T
        "2025-01-02T03:04:05",  # zone required
        "2025-01-02T03:04:05.5",
        "2025-01-02T03:04:05z",
        "2025-01-02T03:04:05 Z",
        "2025-01-02T03:04:05.Z",  # an empty fraction
        "2025-01-02T03:04:05.5.5Z",
        "2025-01-02T03:04Z",
        "2025-01-02",
        "2025-01-02T03:04:05+02",
        "2025-01-02T03:04:05+0200",
        "2025-01-02T03:04:05+2:00",
        "2025-01-02T03:04:05UTC",
        "25-01-02T03:04:05Z",
        "+2025-01-02T03:04:05Z",
        "2025-1-02T03:04:05Z",
        "2025-01-2T03:04:05Z",
        "2025-00-02T03:04:05Z",
        "2025-13-02T03:04:05Z",
        "2025-01-00T03:04:05Z",
        "2025-01-32T03:04:05Z",
        "2025-02-29T03:04:05Z",  # not a leap year
        "2025-04-31T03:04:05Z",
        "2025-01-02T24:00:00Z",
        "2025-01-02T03:60:05Z",
        "2025-01-02T03:04:60Z",
        "2025-01-02T03:04:05ZZ",
        "2025-01-02T03:04:05Z\n",
        " 2025-01-02T03:04:05Z",
        "2025-01-02T03:04:05Z ",
        "tomorrow",
        "1735787045",
        # Only ASCII digits are digits (Go): Arabic-Indic and full-width ones are not.
        "\u0662\u0660\u0662\u0665-01-02T03:04:05Z",
        "2025-01-02T03:04:05.\u0665Z",
        "2025-01-02T03:04:05+\u0660\u0662:00",
        "\uff12\uff10\uff12\uff15-01-02T03:04:05Z",
    ],
)
def test_parse_ts_rejects(text: str) -> None:
    with pytest.raises(BadTimestamp) as info:
        parse_ts(text)
    assert str(info.value)  # a readable detail for the error reply


def test_bad_timestamp_is_a_value_error() -> None:
    assert issubclass(BadTimestamp, ValueError)


@pytest.mark.parametrize(
    "seconds", [0, T, T + 0.5, T + 0.123456, T + 0.000001, 1750000000.999999, 4102444799.25]
)
def test_round_trip(seconds: float) -> None:
    assert parse_ts(format_ts(seconds)) == pytest.approx(seconds, abs=1e-6)


def test_parse_agrees_with_datetime() -> None:
    text = "2031-07-15T18:30:45.654321+05:45"
    expected = datetime.fromisoformat(text).timestamp()
    assert parse_ts(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("seconds", "day"),
    [
        (0, "1970-01-01"),
        (T, "2025-01-02"),
        (1735775999.999, "2025-01-01"),
        (1735776000, "2025-01-02"),
    ],
)
def test_utc_day(seconds: float, day: str) -> None:
    assert utc_day(seconds) == day
    assert day == datetime.fromtimestamp(seconds, UTC).date().isoformat()
