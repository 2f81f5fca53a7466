"""The typed domain definition the rest of virtd works with.

Everything virtd acts on (names, sizes, disks, consoles, tunables) is a typed,
immutable field; change a definition with `dataclasses.replace`. Each object
also keeps the XML element it was parsed from (`element`, not compared), so
that formatting can give back what the user wrote and we do not model: their
`<metadata>`, a `<controller>`, a driver attribute. Objects built in code
leave `element` as None and are formatted from their fields alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TypedDict
from xml.etree.ElementTree import Element

DOMAIN_TYPES = ("kvm", "qemu", "test")
OS_TYPES = ("hvm",)
DEFAULT_PARTITION = "/machine"

# Lifecycle actions, in libvirt's spelling; crash alone may dump core.
LIFECYCLE_ACTIONS = ("destroy", "restart", "rename-restart", "preserve")
CRASH_ACTIONS = LIFECYCLE_ACTIONS + ("coredump-destroy", "coredump-restart")


def _xml() -> Any:
    """The parsed element a value came from: kept for formatting, ignored by ==."""
    return field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Disk:
    """A `<disk>`: what to open, how the guest sees it, and how it may be shared."""

    target: str
    bus: str
    path: str | None  # source file or block device; None for an empty cdrom/floppy
    type: str = "file"  # file | block
    device: str = "disk"  # disk | cdrom | floppy | lun
    format: str | None = None  # <driver type=...>: raw, qcow2, ...
    driver_name: str | None = None
    readonly: bool = False
    shareable: bool = False
    boot_order: int | None = None
    element: Element | None = _xml()


@dataclass(frozen=True)
class Interface:
    """An `<interface>` of type network (source = network name), bridge (bridge name) or user."""

    type: str
    mac: str
    source: str | None = None
    model: str | None = None
    target_dev: str | None = None  # host-side device name, when the user fixed one
    boot_order: int | None = None
    element: Element | None = _xml()


@dataclass(frozen=True)
class CharDevice:
    """A `<serial>` or `<console>`: its host side (pty, file, unix socket, ...) and optional log."""

    type: str
    path: str | None = None  # file/unix/dev path; a pty's path exists only while running
    mode: str | None = None  # unix: bind | connect
    log_file: str | None = None
    log_append: bool | None = None
    target_type: str | None = None  # console: serial | virtio | ...; serial: isa-serial | ...
    target_port: int | None = None
    element: Element | None = _xml()


@dataclass(frozen=True)
class Graphics:
    """A `<graphics>` display; port and listen apply to vnc and spice."""

    type: str
    port: int | None = None  # a fixed port; None when autoport picks one
    autoport: bool = True
    tls_port: int | None = None  # spice only
    listen: str | None = None  # address of the first listen
    passwd: str | None = None  # shown only with the SECURE flag
    element: Element | None = _xml()


@dataclass(frozen=True)
class Loader:
    """`<os><loader>`: firmware image and how it is mapped."""

    path: str | None
    readonly: bool | None = None
    secure: bool | None = None
    type: str | None = None  # rom | pflash


@dataclass(frozen=True)
class CpuTune:
    """`<cputune>`: CFS shares and bandwidth; None means not set."""

    shares: int | None = None
    period: int | None = None
    quota: int | None = None


@dataclass(frozen=True)
class MemTune:
    """`<memtune>` limits in KiB; None means unlimited / not set."""

    hard_limit_kib: int | None = None
    soft_limit_kib: int | None = None
    min_guarantee_kib: int | None = None
    swap_hard_limit_kib: int | None = None


class LiveState(TypedDict, total=False):
    """What only a running domain has, for `format(..., inactive=False)`.

    Sequences line up with the definition's `serials`, `graphics` and
    `interfaces`; a None entry means "nothing live for that device".
    """

    id: int
    partition: str  # the cgroup partition the domain actually runs in
    serial_pty_paths: list[str | None]
    graphics_ports: list[int | None]
    interface_target_devs: list[str | None]


@dataclass(frozen=True)
class DomainDefinition:
    """A parsed, validated domain. Sizes are KiB; `element` is the parsed `<domain>`."""

    name: str
    uuid: uuid.UUID
    domain_type: str
    memory_kib: int
    os_type: str = "hvm"
    current_memory_kib: int = (
        0  # 0 or more than memory_kib: same as memory_kib, as libvirt reads it
    )
    vcpus: int = 1
    current_vcpus: int | None = None  # None: all vcpus online
    vcpu_placement: str = "static"
    cpuset: str | None = None
    title: str | None = None
    description: str | None = None
    arch: str | None = None  # None until the driver fills in its default
    machine: str | None = None
    boot_devices: tuple[str, ...] = ()
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    loader: Loader | None = None
    nvram: str | None = None
    features: tuple[str, ...] = ()
    cpu_mode: str | None = None
    clock_offset: str = "utc"
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"
    emulator: str | None = None
    disks: tuple[Disk, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    serials: tuple[CharDevice, ...] = ()
    consoles: tuple[CharDevice, ...] = ()
    graphics: tuple[Graphics, ...] = ()
    partition: str | None = None  # None: DEFAULT_PARTITION
    cputune: CpuTune = CpuTune()
    memtune: MemTune = MemTune()
    blkio_weight: int | None = None
    element: Element | None = _xml()

    def __post_init__(self) -> None:
        if not 0 < self.current_memory_kib <= self.memory_kib:
            object.__setattr__(self, "current_memory_kib", self.memory_kib)

    @property
    def effective_current_vcpus(self) -> int:
        return self.vcpus if self.current_vcpus is None else self.current_vcpus

    @property
    def effective_partition(self) -> str:
        """The cgroup partition the domain runs in (`machine.slice` for the default)."""
        return self.partition or DEFAULT_PARTITION

    def log_files(self) -> tuple[str, ...]:
        """Every distinct `<log file=...>` of the serial and console devices."""
        seen: dict[str, None] = {}
        for device in (*self.serials, *self.consoles):
            if device.log_file:
                seen.setdefault(device.log_file)
        return tuple(seen)
