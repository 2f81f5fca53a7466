"""Daemon logging with libvirt's levels, filters and outputs, on top of stdlib `logging`.

Modules log as usual through `logging.getLogger("virtd.<area>.<module>")`; the
filters see the name without "virtd." ("rpc.server"). A daemon creates one
LogManager, installs it, and hands it to the admin program for live changes.
"""

from common.log.fields import fields, log_error
from common.log.manager import LogConfig, LogManager, startup_config
from common.log.message_ids import MessageId
from common.log.priority import Priority
from common.log.spec import Filter, Output, parse_filters, parse_outputs

__all__ = [
    "Filter",
    "LogConfig",
    "LogManager",
    "MessageId",
    "Output",
    "Priority",
    "fields",
    "log_error",
    "parse_filters",
    "parse_outputs",
    "startup_config",
]
