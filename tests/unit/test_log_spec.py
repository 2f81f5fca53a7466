"""Filter and output strings as virt-admin, config files and the environment give them.

Every error text is the one a virt-admin user reads after "error: ", so each is
asserted in full; read-back strings are what virt-admin prints verbatim.
"""

from __future__ import annotations

import pytest

from common.errors import ErrorCode, ErrorDomain, VirtError
from common.log.priority import Priority, checked_priority, parse_level
from common.log.spec import (
    Destination,
    Filter,
    Output,
    default_output,
    format_filters,
    format_outputs,
    parse_filters,
    parse_outputs,
)


def _error(call, text: str) -> VirtError:
    with pytest.raises(VirtError) as caught:
        call(text)
    assert (caught.value.code, caught.value.domain) == (ErrorCode.INVALID_ARG, ErrorDomain.NONE)
    return caught.value


# --- filters ---------------------------------------------------------------


def test_filters_every_priority_and_whitespace_forms():
    filters = parse_filters("  1:util\t2:rpc.server \n 3:qemu   4:event ")
    assert filters == [
        Filter(Priority.DEBUG, "util"),
        Filter(Priority.INFO, "rpc.server"),
        Filter(Priority.WARNING, "qemu"),
        Filter(Priority.ERROR, "event"),
    ]


def test_filter_plus_prefix_is_dropped():
    assert parse_filters("1:+util") == [Filter(Priority.DEBUG, "util")]


def test_empty_filter_string_means_no_filters():
    assert parse_filters("") == []
    assert parse_filters("   ") == []


def test_filter_readback_has_stars_and_trailing_space_after_each_item():
    assert format_filters(parse_filters("1:util 4:rpc")) == "1:*util* 4:*rpc* "
    assert format_filters(parse_filters("2:+qemu")) == "2:*qemu* "
    assert format_filters([]) is None


@pytest.mark.parametrize(
    ("module", "match", "hit"),
    [
        ("util.json", "util", True),
        ("qemu.qemu_process", "process", True),  # substring, not prefix
        ("util.json", "util.j*n", True),  # glob inside the substring
        ("util.jsxn", "util.j?on", False),
        ("rpc.server", "util", False),
        ("RPC.server", "rpc", False),  # case matters
    ],
)
def test_filter_matching_is_a_glob_wrapped_in_stars(module, match, hit):
    assert Filter(Priority.DEBUG, match).matches(module) is hit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1", "invalid argument: Malformed format for filter '1'"),
        ("util", "invalid argument: Malformed format for filter 'util'"),
        ("1:util:x", "invalid argument: Malformed format for filter '1:util:x'"),
        ("0:util", "invalid argument: Invalid priority '0' for filter '0:util'"),
        ("5:util", "invalid argument: Invalid priority '5' for filter '5:util'"),
        ("x:util", "invalid argument: Invalid priority 'x' for filter 'x:util'"),
        (":util", "invalid argument: Invalid priority '' for filter ':util'"),
        ("-1:util", "invalid argument: Invalid priority '-1' for filter '-1:util'"),
        ("1:+", "invalid argument: Invalid filter name '1:+'"),
        ("1:", "invalid argument: Invalid filter name '1:'"),
        ("1:util 9:rpc", "invalid argument: Invalid priority '9' for filter '9:rpc'"),
    ],
)
def test_filter_errors(text, message):
    assert _error(parse_filters, text).message == message


# --- outputs ---------------------------------------------------------------


def test_outputs_every_destination():
    outputs = parse_outputs("1:stderr 2:journald 3:file:/var/log/virtd/virtd.log 4:syslog:virtd")
    assert outputs == [
        Output(Priority.DEBUG, Destination.STDERR),
        Output(Priority.INFO, Destination.JOURNALD),
        Output(Priority.WARNING, Destination.FILE, "/var/log/virtd/virtd.log"),
        Output(Priority.ERROR, Destination.SYSLOG, "virtd"),
    ]
    assert (
        format_outputs(outputs)
        == "1:stderr 2:journald 3:file:/var/log/virtd/virtd.log 4:syslog:virtd"
    )


def test_file_output_path_is_made_absolute_and_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert format_outputs(parse_outputs("1:file:logs/d.log")) == f"1:file:{tmp_path}/logs/d.log"
    assert (
        format_outputs(parse_outputs("1:file:/var/log/../tmp/./d.log")) == "1:file:/var/tmp/d.log"
    )


@pytest.mark.parametrize(
    ("text", "readback"),
    [
        ("1:stderr 3:file:/a.log 2:stderr", "3:file:/a.log 2:stderr"),
        ("1:file:/a.log 2:file:/b.log 3:file:/a.log", "2:file:/b.log 3:file:/a.log"),
        ("1:syslog:one 2:syslog:two", "1:syslog:one 2:syslog:two"),
        ("1:journald 4:journald", "4:journald"),
    ],
)
def test_duplicate_destination_keeps_the_last(text, readback):
    assert format_outputs(parse_outputs(text)) == readback


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stderr", "Malformed format for output 'stderr'"),
        ("0:stderr", "Invalid priority '0' for output '0:stderr'"),
        ("5:journald", "Invalid priority '5' for output '5:journald'"),
        ("debug:stderr", "Invalid priority 'debug' for output 'debug:stderr'"),
        ("1:console", "Invalid destination 'console' for output '1:console'"),
        ("1:", "Invalid destination '' for output '1:'"),
        (
            "1:stderr:x",
            "Output '1:stderr:x' does not meet the format requirements "
            "for destination type 'stderr'",
        ),
        (
            "1:journald:x",
            "Output '1:journald:x' does not meet the format requirements "
            "for destination type 'journald'",
        ),
        (
            "1:file",
            "Output '1:file' does not meet the format requirements for destination type 'file'",
        ),
        (
            "1:file:",
            "Output '1:file:' does not meet the format requirements for destination type 'file'",
        ),
        (
            "1:file:/a:b",
            "Output '1:file:/a:b' does not meet the format requirements "
            "for destination type 'file'",
        ),
        (
            "1:syslog",
            "Output '1:syslog' does not meet the format requirements for destination type 'syslog'",
        ),
        (
            "1:stderr 2:syslog:a:b",
            "Output '2:syslog:a:b' does not meet the format requirements "
            "for destination type 'syslog'",
        ),
    ],
)
def test_output_errors(text, message):
    assert _error(parse_outputs, text).message == "invalid argument: " + message


# --- levels and the default output -----------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [("1", 1), ("4", 4), ("debug", 1), ("info", 2), ("warning", 3), ("error", 4), ("INFO", 2)],
)
def test_level_from_environment_accepts_numbers_and_names(text, level):
    assert parse_level(text) == level


@pytest.mark.parametrize("text", ["0", "5", "loud", "warn", " 2"])
def test_level_errors(text):
    message = f"invalid argument: Failed to set logging priority, argument '{text}' is invalid"
    assert _error(parse_level, text).message == message


def test_numeric_level_outside_range_is_refused():
    assert checked_priority(2) is Priority.INFO
    assert _error(checked_priority, 7).message == (
        "invalid argument: Failed to set logging priority, argument '7' is invalid"
    )


@pytest.mark.parametrize(
    ("level", "tty", "journald", "expected"),
    [
        (3, False, True, "3:journald"),
        (1, False, True, "2:journald"),  # journald never gets debug by default
        (4, False, True, "4:journald"),
        (3, True, True, "3:stderr"),
        (1, True, True, "1:stderr"),
        (3, False, False, "3:stderr"),
        (1, False, False, "1:stderr"),
    ],
)
def test_default_output(level, tty, journald, expected):
    output = default_output(Priority(level), stdin_is_tty=tty, journald_writable=journald)
    assert str(output) == expected
