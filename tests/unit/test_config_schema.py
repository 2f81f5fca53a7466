"""Loading config files through the daemons' real schemas: types, checks, warnings, reload diffs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from common.config import Key, Schema
from common.config.checks import in_range
from common.errors import ErrorCode, ErrorDomain, VirtError
from daemons.virtd.config import SCHEMA as VIRTD
from daemons.virtlockd.config import SCHEMA as VIRTLOCKD
from daemons.virtlogd.config import SCHEMA as VIRTLOGD


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "virtd.conf"
    path.write_text(text)
    return path


def load_error(schema: Schema, path: Path) -> VirtError:
    with pytest.raises(VirtError) as info:
        schema.load(path)
    return info.value


def test_no_file_means_libvirt_code_defaults() -> None:
    cfg = VIRTD.load(None)
    assert cfg.source is None
    assert (cfg.max_clients, cfg.max_queued_clients, cfg.max_anonymous_clients) == (5000, 1000, 20)
    assert (cfg.min_workers, cfg.max_workers, cfg.prio_workers, cfg.max_client_requests) == (5, 20, 5, 5)
    assert (cfg.admin_min_workers, cfg.admin_max_workers) == (5, 20)
    assert (cfg.admin_max_clients, cfg.admin_max_queued_clients, cfg.admin_max_client_requests) == (5000, 20, 5)
    assert (cfg.keepalive_interval, cfg.keepalive_count) == (5, 5)
    assert (cfg.admin_keepalive_interval, cfg.admin_keepalive_count) == (5, 5)
    assert (cfg.unix_sock_ro_perms, cfg.unix_sock_admin_perms) == ("0777", "0700")
    assert cfg.unix_sock_dir is None and cfg.unix_sock_rw_perms is None and cfg.auth_unix_rw is None
    assert cfg.access_drivers is None
    assert (cfg.log_level, cfg.log_filters, cfg.log_outputs, cfg.timeout) == (3, None, None, 0)


def test_lock_and_log_daemon_defaults() -> None:
    lockd = VIRTLOCKD.load(None)
    assert (lockd.max_clients, lockd.admin_max_clients, lockd.timeout) == (1024, 5000, 0)
    assert (lockd.file_lockspace_dir, lockd.lvm_lockspace_dir, lockd.scsi_lockspace_dir) == (None, None, None)
    logd = VIRTLOGD.load(None)
    assert (logd.max_clients, logd.admin_max_clients) == (1024, 5000)
    assert (logd.max_size, logd.max_backups, logd.max_age_days, logd.log_root) == (2097152, 3, 0, None)
    assert logd.mirror_to_journal is False and logd.journal_rate_limit == 100


def test_file_values_override_defaults_with_their_types(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'max_clients = 10\nunix_sock_dir = "/srv/virtd"\naccess_drivers = [\n  "polkit",\n]\n'
        "keepalive_interval = -1\nlog_outputs = '1:stderr'\n",
    )
    cfg = VIRTD.load(str(path))
    assert cfg.source == str(path)
    assert cfg.max_clients == 10 and cfg.max_workers == 20
    assert cfg.unix_sock_dir == "/srv/virtd"
    assert cfg.access_drivers == ("polkit",)
    assert cfg.keepalive_interval == -1
    assert cfg.log_outputs == "1:stderr"


def test_bool_keys_take_zero_or_one(tmp_path: Path) -> None:
    path = tmp_path / "virtlogd.conf"
    path.write_text("mirror_to_journal = 1\n")
    assert VIRTLOGD.load(path).mirror_to_journal is True
    path.write_text("mirror_to_journal = 2\n")
    assert load_error(VIRTLOGD, path).message == (
        f"invalid argument: {path}:1: config key 'mirror_to_journal' expects 0 or 1, got the integer 2"
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('max_clients = "many"', "config key 'max_clients' expects an integer, got the string \"many\""),
        ("max_clients = [ '5' ]", "config key 'max_clients' expects an integer, got a list"),
        ("unix_sock_group = 0", "config key 'unix_sock_group' expects a string, got the integer 0"),
        ('access_drivers = "polkit"', "config key 'access_drivers' expects a list of strings, got the string \"polkit\""),
        ("log_level = 7", "config key 'log_level' must be between 1 and 4, not 7"),
        ("log_level = 0", "config key 'log_level' must be between 1 and 4, not 0"),
        ("max_clients = 0", "config key 'max_clients' must be at least 1, not 0"),
        ("timeout = -5", "config key 'timeout' must be at least 0, not -5"),
        ("keepalive_interval = 0", "config key 'keepalive_interval' must be -1 (off) or at least 1, not 0"),
        ('unix_sock_rw_perms = "0999"', "config key 'unix_sock_rw_perms' must be an octal file mode such as \"0770\", not \"0999\""),
        ('unix_sock_ro_perms = "rw"', "config key 'unix_sock_ro_perms' must be an octal file mode such as \"0770\", not \"rw\""),
        ('auth_unix_rw = "sasl"', "config key 'auth_unix_rw' must be one of \"none\", \"polkit\", not \"sasl\""),
        ('access_drivers = [ "polkit", "selinux" ]', "config key 'access_drivers' may only contain \"nop\", \"polkit\", not \"selinux\""),
        ('unix_sock_dir = "run/virtd"', "config key 'unix_sock_dir' must be an absolute path, not \"run/virtd\""),
    ],
)
def test_wrong_values_name_file_line_and_key(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path, f"# settings\n\n{line}\n")
    err = load_error(VIRTD, path)
    assert (err.code, err.domain) == (ErrorCode.INVALID_ARG, ErrorDomain.CONF)
    assert err.message == f"invalid argument: {path}:3: {problem}"


def test_daemon_specific_limits(tmp_path: Path) -> None:
    path = write(tmp_path, "max_backups = 33\n")
    assert load_error(VIRTLOGD, path).message.endswith("config key 'max_backups' must be between 0 and 32, not 33")
    path = write(tmp_path, 'file_lockspace_dir = "lockd"\n')
    assert "config key 'file_lockspace_dir' must be an absolute path" in load_error(VIRTLOCKD, path).message


def test_min_workers_above_max_workers_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "min_workers = 30\n")
    err = load_error(VIRTD, path)
    assert err.code == ErrorCode.INVALID_ARG
    assert err.message == (
        f"invalid argument: {path}: config key 'min_workers' (30) must not be greater than 'max_workers' (20)"
    )
    assert VIRTD.load(write(tmp_path, "min_workers = 30\nmax_workers = 30\n")).min_workers == 30


def test_syntax_errors_come_through_load(tmp_path: Path) -> None:
    path = write(tmp_path, "max_clients = 5\nmax_workers = \n")
    err = load_error(VIRTD, path)
    assert err.code == ErrorCode.CONF_SYNTAX
    assert err.message == f"configuration file syntax error: {path}:2: expecting a value"


def test_unknown_keys_are_warned_about_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "max_clients = 7\nlisten_tls = 1\nmax_requests = 'x'\n")
    with caplog.at_level(logging.WARNING, logger="virtd.config"):
        cfg = VIRTD.load(path)
    assert cfg.max_clients == 7
    warnings = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert warnings == [
        ("virtd.config", logging.WARNING, f"{path}:2: unknown config key 'listen_tls' ignored"),
        ("virtd.config", logging.WARNING, f"{path}:3: unknown config key 'max_requests' ignored"),
    ]


def test_an_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    err = load_error(VIRTD, missing)
    assert (err.code, err.domain) == (ErrorCode.SYSTEM_ERROR, ErrorDomain.CONF)
    assert err.message == f"cannot read configuration file '{missing}': No such file or directory"


def test_an_implicit_missing_file_means_defaults(tmp_path: Path) -> None:
    assert VIRTD.load(tmp_path / "nope.conf", required=False) == VIRTD.defaults()


def test_an_unreadable_path_is_an_error_even_when_optional(tmp_path: Path) -> None:
    with pytest.raises(VirtError) as info:
        VIRTD.load(tmp_path, required=False)
    assert info.value.code == ErrorCode.SYSTEM_ERROR
    assert info.value.message == f"cannot read configuration file '{tmp_path}': Is a directory"


def test_changed_from_lists_the_keys_a_reload_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "max_clients = 10\nlog_level = 2\n")
    before = VIRTD.load(path)
    assert before.changed_from(VIRTD.load(path)) == set()
    path.write_text("max_clients = 10\nlog_level = 1\naccess_drivers = [ 'polkit' ]\ntimeout = 0\n")
    after = VIRTD.load(path)
    assert after.changed_from(before) == {"log_level", "access_drivers"}
    assert before.changed_from(after) == {"log_level", "access_drivers"}
    with pytest.raises(ValueError):
        after.changed_from(VIRTLOGD.defaults())


def test_config_is_read_only(tmp_path: Path) -> None:
    cfg = VIRTD.load(write(tmp_path, "access_drivers = [ 'polkit' ]\n"))
    with pytest.raises(AttributeError):
        cfg.max_clients = 1
    with pytest.raises(AttributeError, match="virtd has no config key 'max_size'"):
        cfg.max_size  # noqa: B018
    assert isinstance(cfg.access_drivers, tuple)
    assert cfg.as_dict()["max_clients"] == 5000


def test_replace_applies_checked_overrides() -> None:
    cfg = VIRTD.defaults()
    overridden = cfg.replace(timeout=120, access_drivers=["polkit"])
    assert (overridden.timeout, overridden.access_drivers) == (120, ("polkit",))
    assert overridden.changed_from(cfg) == {"timeout", "access_drivers"}
    assert cfg.timeout == 0
    for changes, message in [
        ({"timeout": "soon"}, "invalid argument: config key 'timeout' expects an integer, got the string \"soon\""),
        ({"timeout": -1}, "invalid argument: config key 'timeout' must be at least 0, not -1"),
        ({"max_size": 1}, "invalid argument: unknown config key 'max_size'"),
        ({"max_workers": 1}, "invalid argument: config key 'min_workers' (5) must not be greater than 'max_workers' (1)"),
    ]:
        with pytest.raises(VirtError) as info:
            cfg.replace(**changes)
        assert info.value.message == message


def test_keys_that_contradict_themselves_are_refused_when_declared() -> None:
    with pytest.raises(ValueError, match="default must be at least 1"):
        Key("workers", int, 0, "doc", "Section", in_range(1))
    with pytest.raises(ValueError, match="unset key needs an example"):
        Key("dir", str, None, "doc", "Section")
    with pytest.raises(ValueError, match="declared twice"):
        Schema("d", "test", [Key("a", int, 1, "doc", "S"), Key("a", int, 2, "doc", "S")])
