"""The QEMU command line for a domain definition.

Devices we cannot yet give a guest are refused with libvirt's
CONFIG_UNSUPPORTED rather than silently dropped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from common.errors import ErrorCode, ErrorDomain, VirtError
from daemons.virtd.domain.definition import CharDevice, Disk, DomainDefinition, Interface

DEFAULT_EMULATOR = "qemu-system-x86_64"
_DISK_DEVICES = {("disk", "virtio"): "virtio-blk-pci", ("disk", "ide"): "ide-hd",
                 ("disk", "sata"): "ide-hd", ("disk", "scsi"): "scsi-hd",
                 ("cdrom", "ide"): "ide-cd", ("cdrom", "sata"): "ide-cd",
                 ("cdrom", "scsi"): "scsi-cd"}
_NIC_MODELS = {"virtio": "virtio-net-pci", "e1000": "e1000", "rtl8139": "rtl8139"}


def _unsupported(detail: str) -> VirtError:
    return VirtError(ErrorCode.CONFIG_UNSUPPORTED, ErrorDomain.QEMU, detail)


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def find_emulator(definition: DomainDefinition) -> str:
    emulator = definition.emulator or shutil.which(DEFAULT_EMULATOR)
    if not emulator or not os.access(emulator, os.X_OK):
        raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.QEMU,
                        f"Cannot find QEMU binary {definition.emulator or DEFAULT_EMULATOR}")
    return emulator


def accelerator(definition: DomainDefinition) -> str:
    if definition.domain_type == "kvm":
        if not kvm_usable():
            raise _unsupported("Domain requires KVM, but it is not available. Check that "
                               "virtualization is enabled in the host BIOS, and host "
                               "configuration is setup to load the kvm modules.")
        return "kvm"
    return "tcg"


@dataclass(frozen=True)
class QemuCommand:
    argv: list[str]
    monitor: str


def build(definition: DomainDefinition, monitor: str, pidfile: str, paused: bool) -> QemuCommand:
    """argv for `definition`; the monitor socket is QMP, QEMU writes its pid to `pidfile`."""
    d = definition
    argv = [
        find_emulator(d),
        "-name", f"guest={d.name},debug-threads=on",
        "-uuid", str(d.uuid),
        "-machine", f"{d.machine or 'pc'},accel={accelerator(d)}",
        "-m", f"size={d.current_memory_kib}k",
        "-smp", str(d.effective_current_vcpus),
        "-nodefaults", "-no-user-config",
        "-display", "none",
        "-chardev", f"socket,id=monitor,path={monitor},server=on,wait=off",
        "-mon", "chardev=monitor,mode=control",
        "-pidfile", pidfile,
    ]
    if paused:
        argv.append("-S")
    for index, disk in enumerate(d.disks):
        argv += _disk_args(index, disk)
    for index, nic in enumerate(d.interfaces):
        argv += _nic_args(index, nic)
    for index, serial in enumerate(d.serials):
        argv += _serial_args(index, serial)
    return QemuCommand(argv, monitor)


def _disk_args(index: int, disk: Disk) -> list[str]:
    model = _DISK_DEVICES.get((disk.device, disk.bus))
    if model is None:
        raise _unsupported(f"disk bus '{disk.bus}' for a {disk.device} is not supported")
    drive = f"if=none,id=drive{index}"
    if disk.path:
        drive += f",file={_escape(disk.path)},format={disk.format or 'raw'}"
    if disk.readonly or disk.device == "cdrom":
        drive += ",readonly=on"
    return ["-drive", drive, "-device", f"{model},drive=drive{index},id={disk.target}"]


def _nic_args(index: int, nic: Interface) -> list[str]:
    if nic.type != "user":
        raise _unsupported(f"interface type '{nic.type}' is not supported by the QEMU driver yet")
    model = _NIC_MODELS.get(nic.model or "virtio")
    if model is None:
        raise _unsupported(f"interface model '{nic.model}' is not supported")
    return ["-netdev", f"user,id=net{index}",
            "-device", f"{model},netdev=net{index},mac={nic.mac}"]


def _serial_args(index: int, serial: CharDevice) -> list[str]:
    chardev = f"serial{index}"
    if serial.type == "pty":
        spec = f"pty,id={chardev}"
    elif serial.type == "file" and serial.path:
        spec = f"file,id={chardev},path={_escape(serial.path)}"
    elif serial.type == "null":
        spec = f"null,id={chardev}"
    else:
        raise _unsupported(f"serial type '{serial.type}' is not supported by the QEMU driver yet")
    return ["-chardev", spec, "-serial", f"chardev:{chardev}"]


def _escape(value: str) -> str:
    """QEMU's option syntax doubles commas inside a value."""
    return value.replace(",", ",,")
