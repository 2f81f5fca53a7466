"""virtd-admin: administer a running virtd, virtlockd or virtlogd without libvirt-clients.

Commands, arguments, output layout, error lines and exit codes are those of
libvirt 9.0's virt-admin (so scripts and habits carry over); the help texts
are our own. Old command names from libvirt's 2016 admin-API talk work too:
srv-list, srv-threadpool-info, srv-threadpool-set, srv-clients-list,
srv-clients-info, srv-clients-set (aliases), and dmn-log-info (shows filters
and outputs) / dmn-log-define [--filters S] [--outputs S] (sets either).

Connection: -c/--connect URI, else $VIRTD_ADMIN_DEFAULT_URI, else
virtd:///system for root and virtd:///session otherwise. `<daemon>:///system`
is /run/virtd/<daemon>-admin-sock, `<daemon>:///session` is
$XDG_RUNTIME_DIR/virtd/<daemon>-admin-sock, `?socket=PATH` names a socket.

`version` prints virt-admin's three lines; as nothing here is compiled, both
library lines show our installed release ("Compiled against library: virtd X",
"Using library: virtd X"), the last one the daemon's release.

Not provided: virt-admin's interactive shell, `;`-separated command strings,
-d/--debug, -l/--log and the shell helpers (cd, pwd, echo, exit, quit).

--json (a global option, before the command) prints one JSON document on
stdout instead of the text layout; keys are stable:
  uri                    {"uri": str}
  version                {"library": str, "daemon": str}
  server-list            [{"id": int, "name": str}]
  server-threadpool-info {"minWorkers", "maxWorkers", "nWorkers", "freeWorkers",
                          "prioWorkers", "jobQueueDepth": int}
  server-clients-info    {"nclients_max", "nclients", "nclients_unauth_max",
                          "nclients_unauth": int}
  client-list            [{"id": int, "transport": "unix"|"tcp"|"tls"|"unknown",
                           "timestamp": int (epoch seconds), "connected_since": str}]
  client-info            {"id", "transport", "timestamp", "connected_since", then the
                          daemon's identity keys: "readonly": bool, "unix_user_id": int,
                          "unix_user_name": str, "unix_group_id": int,
                          "unix_group_name": str, "unix_process_id": int, ...}
  daemon-log-filters     {"filters": [str]}   (without --filters; items as the daemon
  daemon-log-outputs     {"outputs": [str]}    reports them, e.g. "1:*util*", "3:stderr")
  dmn-log-info           {"filters": [str], "outputs": [str]}
  commands that change something, and connect: {}
  help                   the help text, as without --json
Errors go to stderr as {"error": {"messages": [str], "code": int|null,
"domain": int|null}}: the lines virt-admin would print, and libvirt's error
code and domain when the daemon (or the connection) reported the error.
Mistakes in the global options themselves are reported as text.
Exit status: 0 on success, 1 on any error.
"""

from __future__ import annotations

import importlib.metadata

import json
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Sequence, TextIO

from common.admin.client import AdminClient, ClientRef, ParamValue, default_uri
from common.errors import VirtError
from common.version import VERSION

PROG = "virtd-admin"
UINT_MAX = 2**32 - 1
ULLONG_MAX = 2**64 - 1
SERVER = "server"


class CommandError(Exception):
    """What virt-admin prints as `error: ...` lines; `cause` is the daemon's error, if any."""

    def __init__(self, *lines: str, cause: VirtError | None = None) -> None:
        super().__init__(lines[-1])
        self.lines = list(lines)
        self.cause = cause

    @classmethod
    def from_virt(cls, err: VirtError, *context: str) -> "CommandError":
        return cls(*context, err.message, cause=err)


@contextmanager
def failing_with(context: str) -> Iterator[None]:
    """Put virt-admin's own line for a failed step in front of the daemon's message."""
    try:
        yield
    except VirtError as err:
        raise CommandError.from_virt(err, context) from None


# -- command declarations ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    kind: Literal["string", "number"]
    """As help shows it; virt-admin names a missing required
    string option <name> and a missing number --name."""
    help: str
    required: bool = False
    positional: bool = True
    """Whether a bare word may fill it (in declaration order), as in virt-admin."""


def parse_unsigned(name: str, value: str, maximum: int) -> int:
    """An unsigned decimal in C's strtoul form (leading blanks and '+' allowed), as virt-admin."""
    if re.fullmatch(r"[ \t\n\v\f\r]*\+?[0-9]+", value) and int(value) <= maximum:
        return int(value)
    raise CommandError(f"Numeric value '{value}' for <{name}> option is malformed or out of range")


@dataclass(slots=True)
class Args:
    """A command's option values as typed, converted on use with virt-admin's checks.

    The parser has already made sure required options are present.
    """

    values: dict[str, str]

    def given(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str) -> str:
        """A required string, which must not be empty."""
        value = self.values[name]
        if not value:
            raise CommandError(f"Failed to get option '{name}': Option argument is empty")
        return value

    def optional_text(self, name: str) -> str | None:
        return self.values.get(name)

    def number(self, name: str, maximum: int) -> int:
        return parse_unsigned(name, self.values[name], maximum)

    def tunable(self, name: str) -> int | None:
        """An optional setting of the *-set commands, which add a line of their own on error."""
        value = self.values.get(name)
        if value is None:
            return None
        try:
            return parse_unsigned(name, value, UINT_MAX)
        except CommandError as err:
            raise CommandError(*err.lines, f"Unable to parse integer parameter '{name}'") from None


@dataclass(slots=True)
class Session:
    """What a command works with: the connection, its URI and the output mode."""

    uri: str
    conn: AdminClient | None  # None only while showing help, which needs no daemon
    quiet: bool

    def reconnect(self, uri: str) -> None:
        conn = AdminClient.connect(uri)
        if self.conn is not None:
            self.conn.close()
        self.conn, self.uri = conn, uri


@dataclass(frozen=True, slots=True)
class Output:
    text: str
    """Exactly what virt-admin prints (already honouring --quiet)."""
    data: Any = field(default_factory=dict)
    """The --json document; None for help, which prints its text either way."""


Handler = Callable[[Session, Args], Output]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    group: str | None
    """Help group keyword; None for the old names, which help lists nowhere."""
    summary: str
    description: str
    options: tuple[Option, ...]
    run: Handler
    aliases: tuple[str, ...] = ()

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


# -- output layouts ------------------------------------------------------------


def table(session: Session, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """virt-admin's table: a blank-led, three-space-separated grid; no header when quiet."""
    shown = list(rows) if session.quiet else [headers, *rows]
    if not shown:
        return ""
    widths = [max(len(row[i]) for row in shown) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)] + [row[-1]]
        return " " + "   ".join(cells) + "\n"

    text = "".join(line(row) for row in shown)
    if session.quiet:
        return text
    dashes = "-" * (sum(widths) + 3 * len(widths))
    first, rest = text.split("\n", 1)
    return f"{first}\n{dashes}\n{rest}"


def fields(pairs: Sequence[tuple[str, Any]], width: int) -> str:
    return "".join(f"{name.ljust(width)}: {value}\n" for name, value in pairs)


def param_text(value: ParamValue) -> str:
    """A typed parameter as virt-admin prints it (booleans yes/no, doubles with %f)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:f}"
    return str(value)


def local_time(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S%z", time.localtime(timestamp))


def version_text(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def split_items(text: str | None) -> list[str]:
    return text.split() if text else []


def log_line(session: Session, label: str, value: str | None) -> str:
    """' Logging <label>: <value>', the label part dropped when quiet."""
    return ("" if session.quiet else f" Logging {label}: ") + (value or "") + "\n"


# -- command handlers ----------------------------------------------------------


def cmd_uri(session: Session, args: Args) -> Output:
    return Output(session.uri + "\n", {"uri": session.uri})


def cmd_version(session: Session, args: Args) -> Output:
    daemon = version_text(session.conn.lib_version())
    text = (f"Compiled against library: virtd {VERSION}\n"
            f"Using library: virtd {VERSION}\n"
            f"Running against daemon: {daemon}\n")
    return Output(text, {"library": VERSION, "daemon": daemon})


def cmd_connect(session: Session, args: Args) -> Output:
    uri = args.optional_text("name")
    with failing_with("Failed to reconnect to the admin server"):
        session.reconnect(session.uri if uri is None else uri)
    return Output("Reconnected to the admin server\n")


def cmd_help(session: Session, args: Args) -> Output:
    topic = args.optional_text("command")
    if not topic:
        return Output(all_groups_help(), None)
    command = COMMANDS.get(topic)
    if command is not None:
        return Output(command_help(command), None)
    if topic in GROUPS:
        return Output(group_help(topic, colon=True), None)
    raise CommandError(f"command or command group '{topic}' doesn't exist")


def cmd_server_list(session: Session, args: Args) -> Output:
    names = session.conn.list_servers()
    rows = [(str(i), name) for i, name in enumerate(names)]
    return Output(table(session, ("Id", "Name"), rows),
                  [{"id": i, "name": name} for i, name in enumerate(names)])


def lookup_server(session: Session, name: str) -> str:
    """The server by name; virt-admin prints only the daemon's message when it is unknown."""
    try:
        return session.conn.lookup_server(name)
    except VirtError as err:
        raise CommandError.from_virt(err) from None


def cmd_threadpool_info(session: Session, args: Args) -> Output:
    params = session.conn.threadpool_parameters(lookup_server(session, args.text(SERVER)))
    return Output(fields(list(params.items()), 15), params)


def cmd_threadpool_set(session: Session, args: Args) -> Output:
    server = args.text(SERVER)
    min_workers = args.tunable("min-workers")
    max_workers = args.tunable("max-workers")
    prio_workers = args.tunable("priority-workers")
    if min_workers is None and max_workers is None and prio_workers is None:
        raise CommandError("At least one of options --min-workers, --max-workers, "
                           "--priority-workers is mandatory ")
    if min_workers is not None and max_workers is not None and min_workers > max_workers:
        raise CommandError("--min-workers must be less than or equal to --max-workers")
    name = lookup_server(session, server)
    with failing_with("Unable to change server workerpool parameters"):
        session.conn.set_threadpool_parameters(name, min_workers=min_workers,
                                               max_workers=max_workers,
                                               prio_workers=prio_workers)
    return Output("")


def cmd_clients_info(session: Session, args: Args) -> Output:
    limits = session.conn.client_limits(lookup_server(session, args.text(SERVER)))
    return Output(fields(list(limits.items()), 20), limits)


def cmd_clients_set(session: Session, args: Args) -> Output:
    server = args.text(SERVER)
    max_clients = args.tunable("max-clients")
    max_unauth = args.tunable("max-unauth-clients")
    if max_clients is None and max_unauth is None:
        raise CommandError("At least one of options --max-clients, --max-unauth-clients "
                           "is mandatory")
    if max_clients is not None and max_unauth is not None and max_unauth > max_clients:
        raise CommandError("--max-unauth-clients must be less than or equal to --max-clients")
    name = lookup_server(session, server)
    with failing_with("Unable to change server's client-related configuration limits"):
        session.conn.set_client_limits(name, max_clients=max_clients, max_unauth=max_unauth)
    return Output("")


def cmd_update_tls(session: Session, args: Args) -> Output:
    name = lookup_server(session, args.text(SERVER))
    with failing_with("Unable to update server's tls related files."):
        session.conn.update_tls_files(name)
    return Output("")


def client_json(client: ClientRef) -> dict[str, Any]:
    return {"id": client.id, "transport": client.transport_name, "timestamp": client.timestamp,
            "connected_since": local_time(client.timestamp)}


def cmd_client_list(session: Session, args: Args) -> Output:
    clients = session.conn.list_clients(lookup_server(session, args.text(SERVER)))
    rows = [(str(c.id), c.transport_name, local_time(c.timestamp)) for c in clients]
    return Output(table(session, ("Id", "Transport", "Connected since"), rows),
                  [client_json(c) for c in clients])


def lookup_client(session: Session, args: Args) -> ClientRef:
    """The client by server and id (the id is checked first, as virt-admin does)."""
    client_id = args.number("client", ULLONG_MAX)
    server = lookup_server(session, args.text(SERVER))
    try:
        return session.conn.lookup_client(server, client_id)
    except VirtError as err:
        raise CommandError.from_virt(err) from None


def cmd_client_info(session: Session, args: Args) -> Output:
    client = lookup_client(session, args)
    info = session.conn.client_info(client)
    pairs = [("id", client.id), ("connection_time", local_time(client.timestamp)),
             ("transport", client.transport_name),
             *[(key, param_text(value)) for key, value in info.items()]]
    return Output(fields(pairs, 15), {**client_json(client), **info})


def cmd_client_disconnect(session: Session, args: Args) -> Output:
    client = lookup_client(session, args)
    session.conn.close_client(client)
    return Output(f"Client '{client.id}' disconnected")


def set_logging(session: Session, filters: str | None, outputs: str | None) -> None:
    with failing_with("Unable to change daemon logging settings"):
        if filters is not None:
            session.conn.set_logging_filters(filters)
        if outputs is not None:
            session.conn.set_logging_outputs(outputs)


def cmd_log_filters(session: Session, args: Args) -> Output:
    if args.given("filters"):
        set_logging(session, args.optional_text("filters"), None)
        return Output("")
    filters = session.conn.logging_filters()
    return Output(log_line(session, "filters", filters), {"filters": split_items(filters)})


def cmd_log_outputs(session: Session, args: Args) -> Output:
    if args.given("outputs"):
        set_logging(session, None, args.optional_text("outputs"))
        return Output("")
    outputs = session.conn.logging_outputs()
    return Output(log_line(session, "outputs", outputs), {"outputs": split_items(outputs)})


def cmd_log_info(session: Session, args: Args) -> Output:
    filters = session.conn.logging_filters()
    outputs = session.conn.logging_outputs()
    return Output(log_line(session, "filters", filters) + log_line(session, "outputs", outputs),
                  {"filters": split_items(filters), "outputs": split_items(outputs)})


def cmd_log_define(session: Session, args: Args) -> Output:
    filters, outputs = args.optional_text("filters"), args.optional_text("outputs")
    if filters is None and outputs is None:
        raise CommandError("At least one of options --filters, --outputs is mandatory")
    set_logging(session, filters, outputs)
    return Output("")


def cmd_daemon_timeout(session: Session, args: Args) -> Output:
    session.conn.set_daemon_timeout(args.number("timeout", UINT_MAX))
    return Output("")


# -- the command table ---------------------------------------------------------

def server_option(help: str) -> Option:
    return Option(SERVER, "string", help, required=True)


FILTERS = Option("filters", "string", "new filters, e.g. \"1:rpc 4:util\"; \"\" removes all")
OUTPUTS = Option("outputs", "string", "new outputs, e.g. \"3:journald\"; \"\" restores the default")

COMMAND_LIST = (
    Command("help", "virtd-admin", "show help",
            "Without an argument, list all commands; with one, describe that command or group.",
            (Option("command", "string", "a command name or a group keyword"),), cmd_help),
    Command("uri", "virtd-admin", "show the URI of the connection", "", (), cmd_uri),
    Command("version", "virtd-admin", "show our and the daemon's versions",
            "Show the release of virtd-admin and of the daemon it is connected to.", (),
            cmd_version),
    Command("connect", "virtd-admin", "connect again, maybe to another daemon",
            "Close the connection and open one to the given URI (default: the current one).",
            (Option("name", "string", "admin URI to connect to"),), cmd_connect),
    Command("server-list", "monitor", "list the daemon's servers",
            "Show each server of the daemon with its index.", (), cmd_server_list,
            ("srv-list",)),
    Command("server-threadpool-info", "monitor", "show a server's worker pool",
            "Show the limits and the current state of a server's worker threads.",
            (server_option("the server to show"),), cmd_threadpool_info,
            ("srv-threadpool-info",)),
    Command("client-list", "monitor", "list the clients of a server",
            "Show each client connected to <server>: id, transport, connect time.",
            (server_option("the server whose clients to list"),), cmd_client_list,
            ("srv-clients-list",)),
    Command("client-info", "monitor", "show who a client is",
            "Show the identity of <client> of <server>: user, group, process, read-only.",
            (server_option("the server the client is connected to"),
             Option("client", "string", "the client's id, as client-list shows it",
                    required=True)), cmd_client_info),
    Command("server-clients-info", "monitor", "show a server's client limits",
            "Show how many clients a server accepts and how many it has now.",
            (server_option("the server to show"),), cmd_clients_info, ("srv-clients-info",)),
    Command("server-threadpool-set", "management", "change a server's worker pool",
            "Change the given worker limits of a server; others keep their values.",
            (server_option("the server to change"),
             Option("min-workers", "number", "workers kept even when idle"),
             Option("max-workers", "number", "most workers at any time"),
             Option("priority-workers", "number", "workers reserved for urgent calls")),
            cmd_threadpool_set, ("srv-threadpool-set",)),
    Command("client-disconnect", "management", "disconnect a client",
            "Close the connection of one client of a server.",
            (server_option("the server the client is connected to"),
             Option("client", "number", "the client's id, as client-list shows it",
                    required=True)), cmd_client_disconnect),
    Command("server-clients-set", "management", "change a server's client limits",
            "Change the given client limits of a server; others keep their values.",
            (server_option("the server to change"),
             Option("max-clients", "number", "most clients connected at once"),
             Option("max-unauth-clients", "number",
                    "most clients connected but not yet authenticated")),
            cmd_clients_set, ("srv-clients-set",)),
    Command("server-update-tls", "management", "reload a server's TLS files",
            "Make a server read its CA, certificate, key and CRL files again.",
            (server_option("the server whose TLS files to reload"),), cmd_update_tls,
            ("srv-update-tls",)),
    Command("daemon-log-filters", "management", "show or change the log filters",
            "Without --filters, show the daemon's log filters; with it, replace them.",
            (FILTERS,), cmd_log_filters),
    Command("daemon-log-outputs", "management", "show or change the log outputs",
            "Without --outputs, show the daemon's log outputs; with it, replace them.",
            (OUTPUTS,), cmd_log_outputs),
    Command("daemon-timeout", "management", "set the daemon's idle exit timeout",
            "Set after how many seconds without clients the daemon exits (0: never).",
            (Option("timeout", "number", "idle seconds before the daemon exits",
                    required=True, positional=False),), cmd_daemon_timeout),
    Command("dmn-log-info", None, "show the log filters and outputs",
            "Show the daemon's log filters and log outputs.", (), cmd_log_info),
    Command("dmn-log-define", None, "change the log filters and/or outputs",
            "Replace the daemon's log filters, outputs, or both.", (FILTERS, OUTPUTS),
            cmd_log_define),
)

EXTENSION_GROUP = "virtd.admin_commands"
"""Entry-point group through which a daemon adds its own commands (virtlockd's lease-list),
so this shared CLI never imports daemon code."""


def _extension_commands() -> tuple[Command, ...]:
    found: list[Command] = []
    for entry in importlib.metadata.entry_points(group=EXTENSION_GROUP):
        found.extend(entry.load()())
    return tuple(found)


COMMAND_LIST = COMMAND_LIST + _extension_commands()

COMMANDS: dict[str, Command] = {
    name: cmd for cmd in COMMAND_LIST for name in (cmd.name, *cmd.aliases)
}

GROUPS = {
    "virtd-admin": "Virtd-admin itself",
    "monitor": "Monitoring commands",
    "management": "Management commands",
    "extensions": "Commands of one daemon only (beyond virt-admin)",
}


# -- help ----------------------------------------------------------------------


def command_help(cmd: Command) -> str:
    synopsis = cmd.name + "".join(
        f" <{o.name}>" if o.required else f" [--{o.name} <{o.kind}>]" for o in cmd.options)
    text = f"  NAME\n    {cmd.name} - {cmd.summary}\n\n  SYNOPSIS\n    {synopsis}\n"
    if cmd.description:
        text += f"\n  DESCRIPTION\n    {cmd.description}\n"
    if cmd.options:
        text += "\n  OPTIONS\n"
        for o in cmd.options:
            label = f"[--{o.name}] <{o.kind}>" if o.required else f"--{o.name} <{o.kind}>"
            text += f"    {label:<15}  {o.help}\n"
    return text + "\n"


def group_help(keyword: str, colon: bool) -> str:
    head = f" {GROUPS[keyword]} (help keyword '{keyword}')" + (":" if colon else "")
    rows = "".join(f"    {c.name:<30} {c.summary}\n" for c in COMMAND_LIST if c.group == keyword)
    return f"{head}\n{rows}"


def all_groups_help() -> str:
    return "Grouped commands:\n\n" + "".join(group_help(g, colon=True) + "\n" for g in GROUPS)


def program_help() -> str:
    return (f"\n{PROG} [options]... <command> [args...]\n\n"
            "  options:\n"
            "    -c | --connect=URI      the daemon's admin URI, e.g. virtlogd:///system\n"
            "    -h | --help             show this help\n"
            "    -j | --json             print JSON instead of text\n"
            "    -q | --quiet            leave out headers and blank lines\n"
            "    -v                      show the version number\n"
            "    -V                      show version details\n"
            "         --version[=TYPE]   TYPE short (the default) or long\n"
            "  commands:\n\n"
            + "".join(group_help(g, colon=False) + "\n" for g in GROUPS)
            + "\n  (help <group> lists a group's commands, help <command> describes one)\n\n")


def long_version() -> str:
    return f"{PROG}, the admin command line of virtd {VERSION}\n"


# -- argument parsing ----------------------------------------------------------


def parse_command_args(cmd: Command, words: Sequence[str]) -> tuple[Args, bool]:
    """virt-admin's rules: --opt VALUE, --opt=VALUE, bare words fill positional options
    in order, `--` ends options, --help anywhere asks for the command's help."""
    values: dict[str, str] = {}
    want_help = False
    options_ended = False
    pending = list(words)
    while pending:
        word = pending.pop(0)
        if not options_ended and word == "--":
            options_ended = True
        elif not options_ended and word.startswith("--"):
            name, has_value, value = word[2:].partition("=")
            if name == "help":
                want_help = True
                continue
            opt = cmd.option(name)
            if opt is None:
                raise CommandError(f"command '{cmd.name}' doesn't support option --{name}")
            if name in values:
                raise CommandError(f"option --{name} already seen")
            if not has_value:
                if not pending:
                    raise CommandError(f"expected syntax: --{name} <{opt.kind}>")
                value = pending.pop(0)
            values[name] = value
        else:
            target = next((o for o in cmd.options if o.positional and o.name not in values), None)
            if target is None:
                raise CommandError(f"unexpected data '{word}'")
            values[target.name] = word
    missing = [o for o in cmd.options if o.required and o.name not in values]
    if missing and not want_help:
        raise CommandError(*(f"command '{cmd.name}' requires "
                             + (f"<{o.name}>" if o.kind == "string" else f"--{o.name}")
                             + " option" for o in missing))
    return Args(values), want_help


@dataclass(slots=True)
class Globals:
    uri: str | None = None
    quiet: bool = False
    as_json: bool = False
    show: str | None = None
    """"help", "version" or "long-version" when that is all we are asked for."""
    command: list[str] = field(default_factory=list)


_LONG_OPTIONS = {"connect": "c", "help": "h", "json": "j", "quiet": "q", "version": "v"}


def parse_globals(argv: Sequence[str]) -> Globals:
    """getopt-style options (long ones may be abbreviated) up to the command word."""
    opts = Globals()
    words = list(argv)
    while words and words[0].startswith("-") and words[0] != "-":
        word = words.pop(0)
        if word == "--":
            break
        if word.startswith("--"):
            _long_option(opts, word, words)
            continue
        letters = word[1:]
        for index, letter in enumerate(letters):
            if letter == "c":
                opts.uri = letters[index + 1:] or _connect_argument(words)
                break
            _apply_flag(opts, letter)
    opts.command = words
    return opts


def _connect_argument(rest: list[str]) -> str:
    if not rest:
        raise CommandError("option '-c'/'--connect' requires an argument")
    return rest.pop(0)


def _long_option(opts: Globals, word: str, rest: list[str]) -> None:
    name, has_value, value = word[2:].partition("=")
    matches = [full for full in _LONG_OPTIONS if full.startswith(name)] if name else []
    if name not in _LONG_OPTIONS and len(matches) != 1:
        raise CommandError(f"unsupported option '--{name}'. See --help.")
    full = name if name in _LONG_OPTIONS else matches[0]
    if full == "connect":
        opts.uri = value if has_value else _connect_argument(rest)
    elif full == "version" and has_value:
        if value not in ("short", "long"):
            raise CommandError(f"unsupported option '--version={value}'. See --help.")
        _apply_flag(opts, "V" if value == "long" else "v")
    elif has_value:
        raise CommandError(f"unsupported option '--{full}={value}'. See --help.")
    else:
        _apply_flag(opts, _LONG_OPTIONS[full])


def _apply_flag(opts: Globals, letter: str) -> None:
    if letter == "q":
        opts.quiet = True
    elif letter == "j":
        opts.as_json = True
    elif letter in "hvV":
        opts.show = opts.show or {"h": "help", "v": "version", "V": "long-version"}[letter]
    else:
        raise CommandError(f"unsupported option '-{letter}'. See --help.")


# -- running -------------------------------------------------------------------


def report(error: CommandError, as_json: bool, stream: TextIO) -> None:
    if as_json:
        cause = error.cause
        doc = {"messages": error.lines, "code": cause.code if cause else None,
               "domain": cause.domain if cause else None}
        stream.write(json.dumps({"error": doc}) + "\n")
    else:
        stream.write("".join(f"error: {line}\n" for line in error.lines))


def run(argv: Sequence[str]) -> int:
    """One virtd-admin invocation; returns its exit status."""
    as_json = False
    try:
        opts = parse_globals(argv)
        as_json = opts.as_json
        if opts.show == "help" or (opts.show is None and not opts.command):
            sys.stdout.write(program_help())
            return 0
        if opts.show is not None:
            sys.stdout.write(VERSION + "\n" if opts.show == "version" else long_version())
            return 0
        cmd = COMMANDS.get(opts.command[0])
        if cmd is None:
            raise CommandError(f"unknown command: '{opts.command[0]}'")
        args, want_help = parse_command_args(cmd, opts.command[1:])
        uri = opts.uri if opts.uri is not None else default_uri()
        if want_help or cmd.name == "help":
            # Help needs no daemon, as with virt-admin.
            status = execute(Session(uri, None, opts.quiet), cmd, args, want_help, as_json)
            if not (opts.quiet or as_json):
                sys.stdout.write("\n")
            return status
        with failing_with("Failed to connect to the admin server"):
            session = Session(uri, AdminClient.connect(uri), opts.quiet)
    except CommandError as err:
        report(err, as_json, sys.stderr)
        return 1
    try:
        status = execute(session, cmd, args, want_help, as_json)
    finally:
        session.conn.close()
    if not (opts.quiet or as_json):
        sys.stdout.write("\n")
    return status


def execute(session: Session, cmd: Command, args: Args, want_help: bool, as_json: bool) -> int:
    """Run a parsed command on an open connection and print its result or its error."""
    try:
        output = Output(command_help(cmd), None) if want_help else cmd.run(session, args)
    except CommandError as err:
        report(err, as_json, sys.stderr)
        return 1
    except VirtError as err:
        report(CommandError.from_virt(err), as_json, sys.stderr)
        return 1
    if as_json and output.data is not None:
        sys.stdout.write(json.dumps(output.data) + "\n")
    else:
        sys.stdout.write(output.text)
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))
