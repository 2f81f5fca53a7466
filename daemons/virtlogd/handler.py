"""The open domain logs, and the four operations of the log program on them.

Each open log is a pipe whose write end went to the client (for QEMU's
stdout/stderr) and whose read end we drain into a rotating file. Pipes are
independent of the connection that opened them: they live until every writer
has closed its end.

Pipes outlive the daemon two ways: a re-exec (SIGUSR1) hands the read ends to
the new image through the re-exec state (we are its StateProvider), and under
systemd each read end is also parked in the fd store, so after a crash the
restarted daemon gets it back, with whatever was written meanwhile still in
the pipe. The fd store keeps only fds; what each one is (path, domain) is in a
small state file in the runtime directory, rewritten on every change.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

from common.config.schema import Config
from common.errors import ErrorCode, ErrorDomain, VirtError
from common.fdstore import FdStore
from common.files import atomic_write
from common.log.fields import fields
from common.log.message_ids import MessageId
from common.reexec import FdKeeper
from daemons.virtlogd.records import DomainLabel, LogPosition
from daemons.virtlogd.mirror import JournalMirror
from daemons.virtlogd.pipe import READ_BUFFER, LogPipe, enlarge_pipe
from daemons.virtlogd.roots import LogRoot
from daemons.virtlogd.rotation import RotatingWriter, delete_chain, read_chain

log = logging.getLogger("virtd.virtlogd.handler")

PARK_PREFIX = "pipe-"
STATE_VERSION = 1

_DOMAIN = ErrorDomain.LOGGING


@dataclass(frozen=True, slots=True)
class LogSettings:
    max_size: int
    max_backups: int
    mirror_to_journal: bool
    journal_rate_limit: int

    @classmethod
    def from_config(cls, cfg: Config) -> "LogSettings":
        return cls(cfg.max_size, cfg.max_backups, cfg.mirror_to_journal, cfg.journal_rate_limit)


def park_name(path: str) -> str:
    """The fd store name of the pipe writing `path` (fd store names cannot hold a path)."""
    return PARK_PREFIX + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:40]


class LogHandler:
    """Every open domain log of this daemon, by resolved path."""

    key = "log_handler"
    """Our entry in the re-exec state."""

    def __init__(self, loop: asyncio.AbstractEventLoop, settings: LogSettings, root: LogRoot,
                 state_file: str, on_change: Callable[[], None]) -> None:
        self.settings = settings
        self.root = root
        self.pipes: dict[str, LogPipe] = {}
        self._loop = loop
        self._state_file = state_file
        self._on_change = on_change
        self._fdstore = FdStore()
        self._buffer = bytearray(READ_BUFFER)

    def count(self) -> int:
        return len(self.pipes)

    def open_paths(self) -> set[str]:
        return set(self.pipes)

    # -- the log program ---------------------------------------------------------

    def open_log_file(self, domain: DomainLabel, path: str, truncate: bool
                      ) -> tuple[int, LogPosition]:
        """Start a pipe into `path`; returns its write end (the caller sends and closes it)."""
        resolved = self.root.confine(path)
        if resolved in self.pipes:
            raise VirtError.from_os_error(_DOMAIN, f"Cannot open log file: '{path}'",
                                          OSError(errno.EBUSY, os.strerror(errno.EBUSY)))
        self.root.prepare(resolved)
        if truncate:
            delete_chain(resolved, self.settings.max_backups)
        writer = self._writer(resolved, domain)
        writer.open()
        try:
            read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        except OSError as err:
            writer.close()
            raise VirtError.from_os_error(_DOMAIN, "Unable to create pipe", err) from None
        enlarge_pipe(read_fd)
        self._add(LogPipe(self._loop, read_fd, writer, domain, self._mirror(domain),
                          self._buffer, self._pipe_ended))
        self._pipes_changed()  # the record first: a parked fd nobody knows about is dropped
        self._fdstore.park(park_name(resolved), read_fd)
        log.info("log %s opened for %s", resolved, domain.name, extra=_domain_fields(domain))
        return write_fd, LogPosition(writer.inode, writer.offset)

    def get_position(self, path: str) -> LogPosition:
        """Where the next byte of an open log goes, once the pipe's content is written."""
        pipe = self.pipes.get(self.root.confine(path))
        if pipe is None:
            raise VirtError(ErrorCode.INTERNAL_ERROR, _DOMAIN, f"No open log file {path}")
        pipe.drain()
        return LogPosition(pipe.writer.inode, pipe.writer.offset)

    def read_log_file(self, path: str, position: LogPosition, maxlen: int) -> bytes:
        resolved = self.root.confine(path)
        pipe = self.pipes.get(resolved)
        if pipe is not None:
            pipe.drain()
        return read_chain(resolved, self.settings.max_backups, position.inode, position.offset,
                          maxlen)

    def append_log_file(self, domain: DomainLabel, path: str, message: bytes) -> None:
        """Append a message (virtd's own notes, e.g. the QEMU command line) to a log."""
        resolved = self.root.confine(path)
        text = message.split(b"\0", 1)[0]
        pipe = self.pipes.get(resolved)
        if pipe is not None:
            pipe.drain()
            pipe.writer.append(text)
            return
        self.root.prepare(resolved)
        writer = self._writer(resolved, domain)
        try:
            writer.append(text)
        finally:
            writer.close()

    # -- surviving a re-exec (StateProvider) ---------------------------------------

    def save(self, keeper: FdKeeper) -> dict[str, Any]:
        files = []
        for pipe in self.pipes.values():
            entry = {"pipefd": keeper.keep(pipe.read_fd), "path": pipe.path,
                     **pipe.domain.to_json()}
            if pipe.mirror is not None:
                entry["journal_partial"] = pipe.mirror.partial.decode("latin-1")
            files.append(entry)
        return {"files": files}

    def restore(self, state: dict[str, Any]) -> None:
        for entry in state.get("files", []):
            fd = int(entry["pipefd"])
            os.set_inheritable(fd, False)
            pipe = self._resume(fd, entry["path"], DomainLabel.from_json(entry))
            if pipe.mirror is not None:
                pipe.mirror.partial = entry.get("journal_partial", "").encode("latin-1")
        log.info("%d log pipes kept across re-exec", len(self.pipes))

    # -- surviving a crash (systemd's fd store) --------------------------------------

    def adopt(self, store: FdStore) -> None:
        """Use `store` from now on and resume the pipes systemd kept for us through a crash."""
        self._fdstore = store
        parked = store.take(PARK_PREFIX)
        known = self._read_state_file()
        for name, fd in parked.items():
            entry = known.get(name)
            if entry is None or entry["path"] in self.pipes:
                # Unknown: nothing says where its bytes belong. Known: already ours by re-exec.
                os.close(fd)
                if entry is None:
                    log.warning("dropping pipe %s from the fd store: no record of its log", name)
                    store.unpark(name)
                continue
            self._resume(fd, entry["path"], DomainLabel.from_json(entry))
            log.info("log pipe of %s adopted from the fd store", entry["path"],
                     extra=_domain_fields(DomainLabel.from_json(entry)))
        self._pipes_changed()

    # -- internals ---------------------------------------------------------------

    def _resume(self, fd: int, path: str, domain: DomainLabel) -> LogPipe:
        """Go on reading an existing pipe into `path` (reopened with today's settings)."""
        writer = self._writer(path, domain)
        try:
            writer.open()
        except VirtError as err:
            # Keep draining the pipe so the writer never blocks; appends retry the open.
            log.error("%s", err.message, extra=_domain_fields(domain))
        pipe = LogPipe(self._loop, fd, writer, domain, self._mirror(domain), self._buffer,
                       self._pipe_ended)
        self._add(pipe)
        return pipe

    def _add(self, pipe: LogPipe) -> None:
        self.pipes[pipe.path] = pipe
        pipe.start()
        self._on_change()

    def _pipe_ended(self, pipe: LogPipe) -> None:
        if self.pipes.get(pipe.path) is not pipe:
            return
        del self.pipes[pipe.path]
        self._fdstore.unpark(park_name(pipe.path))
        self._pipes_changed()
        log.info("log %s closed: every writer is gone", pipe.path,
                 extra=_domain_fields(pipe.domain))
        self._on_change()

    def _writer(self, path: str, domain: DomainLabel) -> RotatingWriter:
        def rotated(rotated_path: str) -> None:
            log.info("log %s rotated", rotated_path,
                     extra=fields(message_id=MessageId.LOG_ROTATED, domain_name=domain.name,
                                  domain_uuid=str(domain.uuid), log_path=rotated_path))

        return RotatingWriter(path, self.settings.max_size, self.settings.max_backups, rotated)

    def _mirror(self, domain: DomainLabel) -> JournalMirror | None:
        if not self.settings.mirror_to_journal:
            return None
        return JournalMirror(domain, self.settings.journal_rate_limit)

    def _pipes_changed(self) -> None:
        """Record what each parked fd is, for the daemon that adopts them after a crash."""
        if not self._fdstore.enabled:
            return
        document = {"version": STATE_VERSION,
                    "pipes": {park_name(path): {"path": path, **pipe.domain.to_json()}
                              for path, pipe in self.pipes.items()}}
        atomic_write(self._state_file, json.dumps(document), mode=0o600)

    def _read_state_file(self) -> dict[str, dict[str, Any]]:
        try:
            with open(self._state_file, encoding="utf-8") as f:
                document = json.load(f)
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            log.error("ignoring unreadable pipe records %s: %s", self._state_file, exc)
            return {}
        if document.get("version") != STATE_VERSION:
            log.error("ignoring pipe records %s of unknown version %r", self._state_file,
                      document.get("version"))
            return {}
        return dict(document.get("pipes", {}))


def _domain_fields(domain: DomainLabel) -> dict[str, object]:
    return fields(domain_name=domain.name, domain_uuid=str(domain.uuid))


def domain_label(driver: str, uuid: bytes, name: str) -> DomainLabel:
    """A validated label from the wire (the driver is a plain name: it tags journal records)."""
    if not driver or not driver.replace("-", "").replace("_", "").isalnum():
        raise VirtError(ErrorCode.INVALID_ARG, _DOMAIN, f"driver name '{driver}' is not valid")
    return DomainLabel(driver, UUID(bytes=uuid), name)
