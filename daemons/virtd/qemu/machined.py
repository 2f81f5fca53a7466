"""Placing a VM in its own systemd scope through systemd-machined.

Each VM becomes `machine-<escaped name>.scope` inside the slice of its
`<resource><partition>` (default /machine -> machine.slice), so `machinectl`
lists it, its cgroup is its own, and virtd restarting never touches it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Callable
from uuid import UUID

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from common.errors import ErrorCode, ErrorDomain, VirtError

log = logging.getLogger("virtd.virtd.machined")

MACHINED = "org.freedesktop.machine1"
MANAGER_PATH = "/org/freedesktop/machine1"
MANAGER = "org.freedesktop.machine1.Manager"
CALL_TIMEOUT = 30.0


def machine_name(driver: str, domain_id: int, name: str) -> str:
    """libvirt's rule: `<driver>-<id>-<name>`, the name reduced to letters, digits and single
    '-'/'.' separators, cut at 64 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9.-]", "", name)
    cleaned = re.sub(r"[-.]{2,}", lambda m: m.group(0)[0], cleaned).strip("-.")
    return f"{driver}-{domain_id}-{cleaned}"[:64].rstrip("-.")


def escape_unit_part(text: str) -> str:
    """systemd's unit-name escaping: keep [A-Za-z0-9:_.], '/' -> '-', others -> \\xNN."""
    out = []
    for index, char in enumerate(text):
        if char == "/":
            out.append("-")
        elif (char.isascii() and (char.isalnum() or char in ":_.")) and not (
                index == 0 and char == "."):
            out.append(char)
        else:
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
    return "".join(out)


def scope_name(machine: str) -> str:
    return f"machine-{escape_unit_part(machine)}.scope"


def slice_name(partition: str) -> str:
    """`/machine/production` -> `machine-production.slice` (nested under machine.slice)."""
    parts = [p for p in partition.strip("/").split("/") if p]
    return "-".join(escape_unit_part(p).replace("-", "\\x2d") for p in parts) + ".slice"


class Machined:
    """CreateMachine / TerminateMachine, called from worker threads over the daemon's bus."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 bus: Callable[[], MessageBus | None]) -> None:
        self._loop = loop
        self._bus = bus

    def _call(self, member: str, signature: str, body: list[object]) -> Message:
        bus = self._bus()
        if bus is None:
            raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.SYSTEMD,
                            "no system bus: cannot register the machine with systemd-machined")
        message = Message(destination=MACHINED, path=MANAGER_PATH, interface=MANAGER,
                          member=member, signature=signature, body=body)
        future = asyncio.run_coroutine_threadsafe(bus.call(message), self._loop)
        reply = future.result(CALL_TIMEOUT)
        if reply is None:
            raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.SYSTEMD,
                            f"no reply from systemd-machined to {member}")
        return reply

    def create(self, machine: str, uuid: UUID, leader: int, partition: str) -> str:
        """Register `leader` as VM `machine`; returns the scope unit it now runs in."""
        properties = [["Slice", Variant("s", slice_name(partition))],
                      ["After", Variant("as", ["virtd.service"])],
                      ["Description", Variant("s", f"Virtual Machine {machine}")]]
        reply = self._call("CreateMachine", "sayssusa(sv)",
                           [machine, uuid.bytes, "virtd-qemu", "vm", leader, "", properties])
        if reply.message_type == MessageType.ERROR:
            raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.SYSTEMD,
                            f"systemd-machined refused machine {machine}: {reply.body[0]}")
        return scope_name(machine)

    def terminate(self, machine: str) -> None:
        reply = self._call("TerminateMachine", "s", [machine])
        if (reply.message_type == MessageType.ERROR
                and reply.error_name != "org.freedesktop.machine1.NoSuchMachine"):
            log.warning("TerminateMachine %s failed: %s", machine, reply.body[0])
