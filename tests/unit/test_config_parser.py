"""The config parser: libvirt's `key = value` syntax, its error messages, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config import parse_bytes, parse_text
from common.config.render import format_value
from common.errors import ErrorCode, ErrorDomain, VirtError

SOURCE = "/etc/virtd/virtd.conf"


def parse(text: str) -> dict:
    return dict(parse_text(text, SOURCE))


def syntax_error(text: str) -> str:
    with pytest.raises(VirtError) as info:
        parse_text(text, SOURCE)
    assert (info.value.code, info.value.domain) == (ErrorCode.CONF_SYNTAX, ErrorDomain.CONF)
    return info.value.message


def test_every_value_form() -> None:
    text = """\
# a comment line
max_clients = 5000
keepalive_interval = -1
plus = +7
big = 9223372036854775807
small = -9223372036854775808
padded = 007
dir = "/run/virtd"
group = 'wheel'
empty = ""
quotes = 'say "hi"'
apostrophe = "it's"
drivers = [ "polkit" ]
none = []
"""
    assert parse(text) == {
        "max_clients": 5000,
        "keepalive_interval": -1,
        "plus": 7,
        "big": 2**63 - 1,
        "small": -(2**63),
        "padded": 7,
        "dir": "/run/virtd",
        "group": "wheel",
        "empty": "",
        "quotes": 'say "hi"',
        "apostrophe": "it's",
        "drivers": ["polkit"],
        "none": [],
    }


def test_multi_line_lists_with_comments_and_trailing_comma() -> None:
    text = """\
access_drivers = [
    "polkit",   # the one we ship
    # "nop",
    'other'
  ,
]
single = [ "a", 'b', ]
"""
    assert parse(text) == {"access_drivers": ["polkit", "other"], "single": ["a", "b"]}


def test_blanks_tabs_comments_separators_and_line_endings() -> None:
    text = "\t\n  a\t=\t1   # trailing comment\r\n\n b = 'x' ; c = [\"y\"];\n\n#last\n  d=2"
    assert parse(text) == {"a": 1, "b": "x", "c": ["y"], "d": 2}


def test_empty_and_comment_only_files_have_no_entries() -> None:
    assert parse("") == {}
    assert parse("# only\n\n   # comments\n") == {}


def test_entries_keep_file_order_and_lines() -> None:
    entries = parse_text("\nzeta = 1\n\nalpha = [\n 'a',\n]\nmid = 'm'\n", SOURCE)
    assert list(entries) == ["zeta", "alpha", "mid"]
    assert entries.lines == {"zeta": 2, "alpha": 4, "mid": 7}
    assert entries.where("mid") == f"{SOURCE}:7"


def test_message_names_file_and_line() -> None:
    text = "\n".join(["# header"] * 11) + "\nmax_clients =\n"
    assert syntax_error(text) == (
        "configuration file syntax error: /etc/virtd/virtd.conf:12: expecting a value"
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a = 1\n\n= 5\n", 3, "expecting a name"),
        ("a = 1\n9lives = 1\n", 2, "expecting a name"),
        ("a = 1\nnäme = 1\n", 2, "expecting an assignment"),
        ("a = 1\nmax_clients 5\n", 2, "expecting an assignment"),
        ("a = 1\nmax_clients\n= 5\n", 2, "expecting an assignment"),
        ("a =\n", 1, "expecting a value"),
        ("a = 1\nb = yes\n", 2, "expecting a value"),
        ("a = 1\nb = 1.5\n", 2, "expecting a separator"),
        ("a = 1\nb = 1 2\n", 2, "expecting a separator"),
        ("a = 1\nb = 12abc\n", 2, "expecting a separator"),
        ("a = 1\nb = \"x\" \"y\"\n", 2, "expecting a separator"),
        ("a = 1\nb = -\n", 2, "expecting digits after the sign"),
        ("a = 1\nb = +x\n", 2, "expecting digits after the sign"),
        ("a = 1\nb = 9223372036854775808\n", 2, "numeric overflow"),
        ("a = 1\nb = -9223372036854775809\n", 2, "numeric overflow"),
        ("a = 1\nb = " + "9" * 10000 + "\n", 2, "numeric overflow"),
        ("a = 1\nb = \"/run\n", 2, "unterminated string"),
        ("a = 1\nb = \"/run\nc = 1\"\n", 2, "unterminated string"),
        ("a = 1\nb = 'x\n", 2, "unterminated string"),
        ("a = 1\nb = \"x\n", 2, "unterminated string"),
        ("a = [ 'x\n]", 1, "unterminated string"),
        ("a = 1\nb = [\n  \"x\",\n  \"y\"\n", 2, "unterminated list"),
        ("a = 1\nb = [", 2, "unterminated list"),
        ("a = 1\nb = [\n  1,\n]\n", 3, "expecting a string in the list"),
        ("a = [ 'x', , 'y' ]\n", 1, "expecting a string in the list"),
        ("a = [ [ 'x' ] ]\n", 1, "expecting a string in the list"),
        ("a = 1\nb = [\n  \"x\"\n  \"y\"\n]\n", 4, "expecting ',' or ']' in the list"),
        ("a = 1\n\nb = 2\na = 3\n", 4, "duplicate key 'a' (already set on line 1)"),
        ("a = 1;;\n", 1, "expecting a name"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, problem: str) -> None:
    assert syntax_error(text) == f"configuration file syntax error: {SOURCE}:{line}: {problem}"


def test_invalid_utf8_names_its_line() -> None:
    with pytest.raises(VirtError) as info:
        parse_bytes(b"a = 1\n\nb = '\xff'\n", SOURCE)
    assert info.value.code == ErrorCode.CONF_SYNTAX
    assert info.value.message.endswith(f"{SOURCE}:3: invalid UTF-8")


def test_leading_zeros_do_not_count_as_overflow() -> None:
    assert parse("a = " + "0" * 10000 + "42\n") == {"a": 42}


def _check_only_virt_error(parse_call) -> None:
    try:
        entries = parse_call()
    except VirtError as err:
        assert err.code == ErrorCode.CONF_SYNTAX and err.domain == ErrorDomain.CONF
        assert f"{SOURCE}:" in err.message
    else:
        assert all(isinstance(value, (int, str, list)) for value in entries.values())


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_virt_error(data: bytes) -> None:
    _check_only_virt_error(lambda: parse_bytes(data, SOURCE))


# Text built from the syntax's own characters reaches far deeper than random bytes.
_SYNTAX_TEXT = st.text(alphabet=" \t\n\r#=;,[]\"'+-0123456789ab_\x00é", max_size=200)


@settings(max_examples=1000, deadline=None)
@given(_SYNTAX_TEXT)
def test_syntax_shaped_text_raises_only_virt_error(text: str) -> None:
    _check_only_virt_error(lambda: parse_text(text, SOURCE))


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_STRINGS = st.text(st.characters(blacklist_characters="\"'\r\n", blacklist_categories=("Cs",)), max_size=20)
_VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    _STRINGS,
    st.lists(_STRINGS, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_NAMES, _VALUES, max_size=8))
def test_written_values_read_back_unchanged(entries: dict) -> None:
    text = "".join(f"{name} = {format_value(value)}\n" for name, value in entries.items())
    assert parse(text) == entries
