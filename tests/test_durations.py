"""Go duration strings, as GoTrue's configuration and ban_duration use them."""

from datetime import timedelta

import pytest

from gotrue_web.durations import parse_go_duration, parse_seconds_or_duration


@pytest.mark.parametrize(("text", "expected"), [
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("300ms", timedelta(milliseconds=300)),
    ("24h", timedelta(hours=24)),
    ("1.5h", timedelta(minutes=90)),
    (".5s", timedelta(milliseconds=500)),
    ("1.s", timedelta(seconds=1)),
    ("2h45m30.5s", timedelta(hours=2, minutes=45, seconds=30.5)),
    ("1m1s1ms1us", timedelta(minutes=1, seconds=1, milliseconds=1, microseconds=1)),
    ("3µs", timedelta(microseconds=3)),  # micro sign
    ("3μs", timedelta(microseconds=3)),  # Greek mu
    ("1500ns", timedelta(microseconds=1)),  # below a microsecond is dropped
    ("0", timedelta(0)),
    ("-0", timedelta(0)),
    ("+5m", timedelta(minutes=5)),
    ("-1h", timedelta(hours=-1)),
    (" 10s ", timedelta(seconds=10)),
    ("2562047h", timedelta(hours=2562047)),  # the longest whole-hour Go duration
])
def test_parse_go_duration(text, expected):
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", [
    "", " ", "-", "+", "1", "1.5", "h", ".s", "5m3", "1e3s", "1d", "1 h", "1h 30m", "abc",
    "2562048h",  # past Go's int64 nanoseconds
    "99999999999999999999999h",
])
def test_parse_go_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("60", timedelta(seconds=60)),
    ("0", timedelta(0)),
    ("1h30m", timedelta(minutes=90)),
    ("300ms", timedelta(milliseconds=300)),
])
def test_bare_seconds_or_duration(text, expected):
    assert parse_seconds_or_duration(text) == expected


@pytest.mark.parametrize("text", ["-60", "60x", "", "9999999999999"])
def test_bare_seconds_or_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_seconds_or_duration(text)
