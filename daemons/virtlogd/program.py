"""libvirt's log program (reference §5): the table virtqemud, and later virtd, call.

Handlers run inline on the event loop, which also reads the pipes, so no
lock is needed. The socket admits only the daemon's own uid (libvirt marks
these procedures "@acl: none"); the ACL names below are what a finer policy
would check.
"""

from __future__ import annotations

from typing import Any

from common import xdr
from common.errors import ErrorCode, ErrorDomain, VirtError, check_flags
from common.rpc.program import Procedure, Program, Reply
from common.rpc.server import CallContext
from daemons.virtlogd import protocol as p
from daemons.virtlogd.handler import LogHandler, domain_label
from daemons.virtlogd.protocol import LogProc
from daemons.virtlogd.records import LogPosition

_HANDLER_DOMAIN = ErrorDomain.LOGGING
_WRITE = ("log.write",)
_READ = ("log.read",)


class LogProgram:
    """The procedures, bound to one handler."""

    def __init__(self, handler: LogHandler) -> None:
        self.handler = handler

    def open_log_file(self, ctx: CallContext, args: Any) -> Reply:
        check_flags(args.flags, p.OPEN_LOG_FILE_TRUNCATE, "virLogHandlerDomainOpenLogFile",
                    _HANDLER_DOMAIN)
        domain = domain_label(args.driver, args.dom.uuid, args.dom.name)
        write_fd, pos = self.handler.open_log_file(
            domain, args.path, bool(args.flags & p.OPEN_LOG_FILE_TRUNCATE))
        return Reply(p.PositionRet(_wire(pos)), fds=[write_fd])

    def get_log_file_position(self, ctx: CallContext, args: Any) -> Any:
        check_flags(args.flags, 0, "virLogHandlerDomainGetLogFilePosition", _HANDLER_DOMAIN)
        return p.PositionRet(_wire(self.handler.get_position(args.path)))

    def read_log_file(self, ctx: CallContext, args: Any) -> Any:
        if args.maxlen > p.STRING_MAX:
            raise VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.RPC,
                            f"Requested data len {args.maxlen} is larger than maximum "
                            f"{p.STRING_MAX}")
        check_flags(args.flags, 0, "virLogHandlerDomainReadLogFile", _HANDLER_DOMAIN)
        pos = LogPosition(args.pos.inode, args.pos.offset)
        return p.ReadRet(self.handler.read_log_file(args.path, pos, args.maxlen))

    def append_log_file(self, ctx: CallContext, args: Any) -> Any:
        check_flags(args.flags, 0, "virLogHandlerDomainAppendLogFile", _HANDLER_DOMAIN)
        domain = domain_label(args.driver, args.dom.uuid, args.dom.name)
        self.handler.append_log_file(domain, args.path, args.message)
        return p.AppendRet(0)

    def program(self) -> Program:
        return Program("log", p.LOG_PROGRAM, p.LOG_VERSION, [
            _proc(LogProc.DOMAIN_OPEN_LOG_FILE, p.OpenArgs, p.PositionRet, self.open_log_file,
                  "virLogManagerDomainOpenLogFile", _WRITE),
            _proc(LogProc.DOMAIN_GET_LOG_FILE_POSITION, p.GetPositionArgs, p.PositionRet,
                  self.get_log_file_position, "virLogManagerDomainGetLogFilePosition", _READ),
            _proc(LogProc.DOMAIN_READ_LOG_FILE, p.ReadArgs, p.ReadRet, self.read_log_file,
                  "virLogManagerDomainReadLogFile", _READ),
            _proc(LogProc.DOMAIN_APPEND_LOG_FILE, p.AppendArgs, p.AppendRet,
                  self.append_log_file, "virLogManagerDomainAppendLogFile", _WRITE),
        ])


def log_program(handler: LogHandler) -> Program:
    return LogProgram(handler).program()


def _proc(proc: LogProc, args: xdr.XdrType, ret: xdr.XdrType, handler: Any, api: str,
          acl: tuple[str, ...]) -> Procedure:
    return Procedure(int(proc), f"VIR_LOG_MANAGER_PROTOCOL_PROC_{proc.name}", args, ret, handler,
                     api=api, acl=acl)


def _wire(pos: LogPosition) -> Any:
    return p.Position(pos.inode, pos.offset)
