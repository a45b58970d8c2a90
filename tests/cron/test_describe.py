"""Readable descriptions of common crontab shapes; anything unusual falls back to the raw text."""

from __future__ import annotations

import pytest

from faktory_core.plugins.cron.describe import describe, describe_or_raw


@pytest.mark.parametrize(
    ("expression", "sentence"),
    [
        ("* * * * *", "every minute"),
        ("*/1 * * * *", "every minute"),
        ("*/5 * * * *", "every 5 minutes"),
        ("0 * * * *", "every hour, on the hour"),
        ("@hourly", "every hour, on the hour"),
        ("15 * * * *", "every hour at minute 15"),
        ("0 */6 * * *", "every 6 hours at minute 0"),
        ("30 2 * * *", "every day at 02:30"),
        ("@daily", "every day at 00:00"),
        ("@midnight", "every day at 00:00"),
        ("0 9 * * 1-5", "every Monday to Friday at 09:00"),
        ("0 9 * * mon-fri", "every Monday to Friday at 09:00"),
        ("0 9 * * 1,3,5", "every Monday, Wednesday and Friday at 09:00"),
        ("0 0 * * 0", "every Sunday at 00:00"),
        ("@weekly", "every Sunday at 00:00"),
        ("0 0 * * 7", "every Sunday at 00:00"),
        ("0 0 1 * *", "on the 1st of every month at 00:00"),
        ("@monthly", "on the 1st of every month at 00:00"),
        ("45 23 22 * *", "on the 22nd of every month at 23:45"),
        ("0 12 13 * *", "on the 13th of every month at 12:00"),
        ("0 0 1 1 *", "every year on 1 January at 00:00"),
        ("@yearly", "every year on 1 January at 00:00"),
        ("0 6 24 dec *", "every year on 24 December at 06:00"),
    ],
)
def test_common_shapes(expression: str, sentence: str) -> None:
    assert describe(expression) == sentence


@pytest.mark.parametrize(
    "expression",
    ["0,30 * * * *", "0 9-17 * * *", "0 0 L * *", "0 0 * * 1#2", "0 0 1 * 1", "5 4 * 2 *", "x"],
)
def test_unusual_shapes_are_shown_raw(expression: str) -> None:
    assert describe(expression) is None
    assert describe_or_raw(expression) == expression
