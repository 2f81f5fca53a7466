"""One daemon's logging: the root handler and its live level, filters and outputs.

Admin calls change the configuration while worker threads are logging. The
whole configuration is one immutable snapshot that a change replaces in a
single assignment, under the handler's lock, so every thread sees either the
old or the new configuration and never writes to a sink being closed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from systemd import journal

from common.log.journal import JournaldSink, JournalSender
from common.log.message_ids import ALWAYS_JOURNALED
from common.log.priority import Priority, checked_priority, parse_level
from common.log.sinks import FileSink, Sink, StderrSink, SyslogSink
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
from common.log.text import source_module

JOURNAL_SOCKET = "/run/systemd/journal/socket"
KEY_EVENT_PRIORITY = Priority.INFO


def is_key_event(record: logging.LogRecord) -> bool:
    """A record of a key event (VM lifecycle, leases, daemon start/stop...) at info or above:
    the journal always gets it, whatever the log level, so `journalctl VIRTD_DOMAIN_NAME=x`
    and `journalctl MESSAGE_ID=...` work out of the box. Other outputs follow the level."""
    return (record.levelno >= logging.INFO
            and getattr(record, "MESSAGE_ID", None) in ALWAYS_JOURNALED)
SYSLOG_SOCKET = "/dev/log"


@dataclass(frozen=True)
class LogConfig:
    """The log_level / log_filters / log_outputs keys of a daemon's config file."""

    level: int = Priority.WARNING
    filters: str | None = None
    outputs: str | None = None


def startup_config(config: LogConfig, environ: Mapping[str, str], *, verbose: bool) -> LogConfig:
    """libvirt's precedence: config file < environment < --verbose.

    The variables are VIRTD_DEBUG, VIRTD_LOG_FILTERS and VIRTD_LOG_OUTPUTS;
    an empty one counts as unset.
    """
    level: int = config.level
    if environ.get("VIRTD_DEBUG"):
        level = parse_level(environ["VIRTD_DEBUG"])
    if verbose:
        level = min(level, Priority.INFO)
    return LogConfig(
        level=level,
        filters=environ.get("VIRTD_LOG_FILTERS") or config.filters,
        outputs=environ.get("VIRTD_LOG_OUTPUTS") or config.outputs,
    )


@dataclass(frozen=True)
class _State:
    level: Priority
    filters: tuple[Filter, ...]
    outputs: tuple[tuple[Output, Sink], ...]
    # True when the outputs were chosen by default and so follow the level.
    default_outputs: bool
    # Threshold per logger name, filled on first use: filters are matched once per logger.
    thresholds: dict[str, Priority] = field(default_factory=dict, compare=False, repr=False)

    def threshold(self, logger_name: str) -> Priority:
        """The first matching filter's priority, else the unfiltered floor."""
        found = self.thresholds.get(logger_name)
        if found is None:
            module = source_module(logger_name)
            found = next((f.priority for f in self.filters if f.matches(module)),
                         self.unfiltered_floor)
            self.thresholds[logger_name] = found
        return found

    @property
    def unfiltered_floor(self) -> Priority:
        """What an unfiltered module logs from: the global level, or lower when an output
        asks for lower priorities (`1:file:/x` gets debug records without also lowering
        log_level; libvirt would need both). Each output still applies its own priority."""
        return min([self.level, *(o.priority for o, _ in self.outputs)])

    def lowest_passing(self) -> Priority:
        """The lowest priority that can pass; the root logger drops lower records unbuilt."""
        module_floor = min([self.unfiltered_floor, *(f.priority for f in self.filters)])
        floor = max(module_floor, min(output.priority for output, _ in self.outputs))
        if self.journals_key_events:
            floor = min(floor, KEY_EVENT_PRIORITY)
        return floor

    @property
    def journals_key_events(self) -> bool:
        return any(o.destination == Destination.JOURNALD for o, _ in self.outputs)

    @property
    def output_specs(self) -> list[Output]:
        return [output for output, _ in self.outputs]


class _RootHandler(logging.Handler):
    """Routes each record to the outputs of the current snapshot."""

    lock: threading.RLock  # always set by Handler.createLock; the manager shares it

    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def filter(self, record: logging.LogRecord) -> bool:
        priority = Priority.of_record_level(record.levelno)
        if priority < self.state.threshold(record.name) and not (
                self.state.journals_key_events and is_key_event(record)):
            return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        priority = Priority.of_record_level(record.levelno)
        wanted = priority >= self.state.threshold(record.name)
        for output, sink in self.state.outputs:
            if (wanted and priority >= output.priority) or (
                    output.destination == Destination.JOURNALD and is_key_event(record)):
                try:
                    sink.emit(record)
                except OSError:
                    pass  # an unreachable destination loses the record, never the daemon
                except Exception:
                    self.handleError(record)


class LogManager:
    """The logging configuration of one daemon process; install once, then change it live."""

    def __init__(
        self,
        daemon_name: str,
        *,
        journal_sender: JournalSender = journal.send,
        journal_socket: str = JOURNAL_SOCKET,
        syslog_socket: str = SYSLOG_SOCKET,
    ) -> None:
        self._daemon_name = daemon_name
        self._journal_sender = journal_sender
        self._journal_socket = journal_socket
        self._syslog_socket = syslog_socket
        level = Priority.WARNING
        outputs = self._open_sinks([self._default_output(level)], {})
        self._handler = _RootHandler(_State(level, (), outputs, default_outputs=True))
        self._root_level_before: int | None = None

    def install(self) -> None:
        """Make this the handler of the process's root logger."""
        root = logging.getLogger()
        with self._handler.lock:
            self._root_level_before = root.level
            root.addHandler(self._handler)
            self._sync_root_level()

    def close(self) -> None:
        """Detach from the root logger and close every output."""
        root = logging.getLogger()
        with self._handler.lock:
            root.removeHandler(self._handler)
            if self._root_level_before is not None:
                root.setLevel(self._root_level_before)
                self._root_level_before = None
            for _, sink in self._handler.state.outputs:
                sink.close()

    @property
    def level(self) -> Priority:
        return self._handler.state.level

    def apply(self, config: LogConfig) -> None:
        """Set level, filters and outputs together; on any error nothing changes."""
        level = checked_priority(config.level)
        filters = tuple(parse_filters(config.filters or ""))
        outputs = parse_outputs(config.outputs or "") or None
        self._replace(level, filters, outputs)

    def set_level(self, level: int) -> None:
        """Change the global level; default outputs follow it."""
        priority = checked_priority(level)
        with self._handler.lock:
            state = self._handler.state
            self._replace(priority, state.filters, self._kept_outputs(state))

    def set_filters(self, text: str | None) -> None:
        """Replace all filters; None or "" removes them."""
        filters = tuple(parse_filters(text or ""))
        with self._handler.lock:
            state = self._handler.state
            self._replace(state.level, filters, self._kept_outputs(state))

    def set_outputs(self, text: str | None) -> None:
        """Replace all outputs; None or "" restores the default output."""
        outputs = parse_outputs(text or "") or None
        with self._handler.lock:
            self._replace(self._handler.state.level, self._handler.state.filters, outputs)

    def current(self) -> LogConfig:
        """The settings in effect, in config-file syntax (outputs None while defaulted)."""
        state = self._handler.state
        filters = " ".join(f"{f.priority:d}:{f.match}" for f in state.filters) or None
        outputs = None if state.default_outputs else format_outputs(state.output_specs)
        return LogConfig(int(state.level), filters, outputs)

    def get_filters(self) -> tuple[str | None, int]:
        """libvirt 9.0's admin reply: (`P:*match* ` per filter or None, count)."""
        filters = self._handler.state.filters
        return format_filters(list(filters)), len(filters)

    def get_outputs(self) -> tuple[str, int]:
        """libvirt's admin reply: (outputs joined by spaces, count)."""
        outputs = self._handler.state.output_specs
        return format_outputs(outputs), len(outputs)

    @staticmethod
    def _kept_outputs(state: _State) -> list[Output] | None:
        return None if state.default_outputs else state.output_specs

    def _replace(
        self, level: Priority, filters: tuple[Filter, ...], outputs: list[Output] | None
    ) -> None:
        """Open what is new, swap the snapshot, close what is gone; `outputs` None means default."""
        with self._handler.lock:
            old = self._handler.state
            specs = outputs if outputs is not None else [self._default_output(level)]
            current = {output.key: sink for output, sink in old.outputs}
            new = _State(level, filters, self._open_sinks(specs, current), outputs is None)
            self._handler.state = new
            kept = {id(sink) for _, sink in new.outputs}
            for _, sink in old.outputs:
                if id(sink) not in kept:
                    sink.close()
            self._sync_root_level()

    def _open_sinks(
        self, specs: Iterable[Output], reusable: Mapping[tuple[Destination, str], Sink]
    ) -> tuple[tuple[Output, Sink], ...]:
        """Sinks for `specs`, reusing open ones for the same destination; all or nothing."""
        opened: list[Sink] = []
        pairs: list[tuple[Output, Sink]] = []
        try:
            for spec in specs:
                sink = reusable.get(spec.key)
                if sink is None:
                    sink = self._open_sink(spec)
                    opened.append(sink)
                pairs.append((spec, sink))
        except BaseException:
            for sink in opened:
                sink.close()
            raise
        return tuple(pairs)

    def _open_sink(self, output: Output) -> Sink:
        match output.destination:
            case Destination.STDERR:
                return StderrSink()
            case Destination.FILE:
                return FileSink(output.name)
            case Destination.SYSLOG:
                return SyslogSink(output.name, self._syslog_socket)
            case Destination.JOURNALD:
                return JournaldSink(self._daemon_name, self._journal_sender)

    def _default_output(self, level: Priority) -> Output:
        return default_output(
            level,
            stdin_is_tty=os.isatty(0),
            journald_writable=os.access(self._journal_socket, os.W_OK),
        )

    def _sync_root_level(self) -> None:
        if self._root_level_before is not None:
            logging.getLogger().setLevel(self._handler.state.lowest_passing().stdlib_level)
