"""The devices virtd models: disks, interfaces, serials/consoles, graphics.

Each has a `parse_*` (element -> typed object, with libvirt's checks and
defaults) and a `format_*` (typed object -> element in libvirt's layout,
keeping what the user wrote that we do not model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from xml.etree.ElementTree import Element

from common.errors import ErrorCode, ErrorDomain, VirtError

from .definition import CharDevice, Disk, Graphics, Interface
from .values import (
    UINT_MAX,
    disk_name_index,
    disk_name_prefix,
    generate_mac,
    is_multicast_mac,
    parse_mac,
    parse_signed,
    parse_unsigned,
)
from .xmlread import (
    bool_attr,
    bool_word,
    enum_attr,
    first,
    invalid_attribute,
    missing_attribute,
    required,
)
from .xmlwrite import compose, present

# --- common ---------------------------------------------------------------------------------

_INFO_TAGS = ("boot", "alias", "address")  # device info libvirt prints last, in this order


def keep_user_child(child: Element) -> bool:
    """Drop aliases the hypervisor assigned; libvirt keeps only user aliases ("ua-...")."""
    return child.tag != "alias" or (child.get("name") or "").startswith("ua-")


def parse_boot_order(device: Element) -> int | None:
    boot = first(device, "boot")
    if boot is None:
        return None
    text = required(boot, "order")
    order = parse_unsigned(text, UINT_MAX)
    if order is None:
        raise invalid_attribute(boot, "order", text, " Expected non-negative integer value")
    if order == 0:
        raise VirtError(
            ErrorCode.XML_ERROR,
            ErrorDomain.XML,
            "Invalid value for attribute 'order' in element 'boot': Zero is not permitted",
        )
    return order


def _boot(original: Element | None, order: int | None) -> list[Element]:
    if order is None:
        return []
    return [
        compose("boot", first(original, "boot"), attrs={"order": str(order)}, attr_order=("order",))
    ]


# --- disks ----------------------------------------------------------------------------------

DISK_TYPES = ("file", "block")
_LIBVIRT_DISK_TYPES = ("file", "block", "dir", "network", "volume", "nvme", "vhostuser")
DISK_DEVICES = ("floppy", "disk", "cdrom", "lun")
DISK_BUSES = ("ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd")
DISK_FORMATS = (
    "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd",
    "ploop", "cow", "qcow", "qcow2", "qed", "vmdk",
)  # fmt: skip
_BUS_BY_PREFIX = {"hd": "ide", "sd": "scsi", "vd": "virtio", "xvd": "xen", "ubd": "uml"}
_DISK_ATTRS = ("type", "device", "model", "rawio", "sgio", "snapshot")
_DISK_CHILDREN = (
    "driver", "auth", "source", "backingStore", "mirror", "geometry", "blockio", "target",
    "iotune", "readonly", "shareable", "transient", "serial", "wwn", "vendor", "product",
    "encryption", *_INFO_TAGS,
)  # fmt: skip
_DRIVER_ATTRS = (
    "name", "type", "cache", "error_policy", "rerror_policy", "io", "ioeventfd", "event_idx",
    "copy_on_read", "discard", "iothread", "detect_zeroes", "queues", "queue_size",
)  # fmt: skip
_SOURCE_KEY = {"file": "file", "block": "dev"}


def parse_disk(element: Element) -> Disk:
    disk_type = enum_attr(element, "type", _LIBVIRT_DISK_TYPES, "file")
    if disk_type not in DISK_TYPES:
        raise VirtError(
            ErrorCode.CONFIG_UNSUPPORTED,
            ErrorDomain.DOMAIN,
            f"disk type '{disk_type}' is not supported",
        )
    device = enum_attr(element, "device", DISK_DEVICES, "disk")
    source = first(element, "source")
    path = (source.get(_SOURCE_KEY[disk_type]) if source is not None else None) or None
    target_element = first(element, "target")
    target = target_element.get("dev") if target_element is not None else None
    if not target or target_element is None:
        detail = f" {path}" if path else ""
        raise VirtError(
            ErrorCode.NO_TARGET,
            ErrorDomain.DOMAIN,
            f"missing target information for device{detail}",
        )
    if path is None and device in ("disk", "lun"):
        raise VirtError(
            ErrorCode.NO_SOURCE,
            ErrorDomain.DOMAIN,
            f"missing source information for device {target}",
        )
    bus = enum_attr(target_element, "bus", DISK_BUSES) or _default_bus(device, target)
    driver = first(element, "driver")
    disk_format = driver.get("type") if driver is not None else None
    if disk_format == "aio":
        disk_format = "raw"
    if disk_format is not None and disk_format not in DISK_FORMATS:
        raise VirtError(
            ErrorCode.CONFIG_UNSUPPORTED,
            ErrorDomain.DOMAIN,
            f"unknown driver format value '{disk_format}'",
        )
    _check_disk_name(target, device, has_address=first(element, "address") is not None)
    return Disk(
        target=target,
        bus=bus,
        path=path,
        type=disk_type if path is not None else "file",
        device=device,
        format=disk_format,
        driver_name=driver.get("name") if driver is not None else None,
        readonly=device == "cdrom" or first(element, "readonly") is not None,
        shareable=first(element, "shareable") is not None,
        boot_order=parse_boot_order(element),
        element=element,
    )


def _default_bus(device: str, target: str) -> str:
    if device == "floppy":
        return "fdc"
    return _BUS_BY_PREFIX.get(disk_name_prefix(target) or "", "ide")


def _check_disk_name(target: str, device: str, *, has_address: bool) -> None:
    if disk_name_index(target) is None and not has_address:
        raise VirtError(
            ErrorCode.XML_ERROR,
            ErrorDomain.DOMAIN,
            f"Unknown disk name '{target}' and no address specified",
        )
    prefix = disk_name_prefix(target) if disk_name_index(target) is not None else None
    if device == "floppy" and prefix != "fd":
        raise VirtError(
            ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN, f"Invalid floppy device name: {target}"
        )
    if device in ("disk", "lun") and prefix in (None, "fd"):
        raise VirtError(
            ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN, f"Invalid harddisk device name: {target}"
        )


def sort_disks(disks: Sequence[Disk]) -> tuple[Disk, ...]:
    """Parsed disks in the order libvirt keeps them.

    libvirt inserts each disk it parses after the last disk on the same bus
    (as written: a bus it had to pick does not count yet) with a lower drive
    index. The result: buses in order of first appearance, each sorted by
    drive index, which is what this computes without the quadratic cost.
    """
    groups: dict[str | None, list[Disk]] = {}
    for disk in disks:
        groups.setdefault(written_bus(disk), []).append(disk)
    return tuple(disk for group in groups.values() for disk in sorted(group, key=_drive_index))


def _drive_index(disk: Disk) -> int:
    index = disk_name_index(disk.target)
    return -1 if index is None else index


def written_bus(disk: Disk) -> str | None:
    """The bus the user wrote in `<target bus=...>`, None when libvirt had to pick one."""
    if disk.element is None:
        return disk.bus
    target = first(disk.element, "target")
    return target.get("bus") if target is not None else None


def check_disk_targets(disks: Sequence[Disk]) -> None:
    """Two disks may not claim the same target name."""
    seen: dict[str, Disk] = {}
    for disk in disks:
        earlier = seen.setdefault(disk.target, disk)
        if earlier is not disk:
            raise VirtError(
                ErrorCode.XML_ERROR,
                ErrorDomain.DOMAIN,
                f"target '{disk.target}' duplicated for disk sources "
                f"'{earlier.path or '<null>'}' and '{disk.path or '<null>'}'",
            )


def format_disk(disk: Disk) -> Element:
    original = disk.element
    driver = compose(
        "driver",
        first(original, "driver"),
        attrs={"name": disk.driver_name, "type": disk.format},
        attr_order=_DRIVER_ATTRS,
    )
    source: list[Element] = []
    if disk.path is not None:
        key = _SOURCE_KEY[disk.type]
        source = [
            compose(
                "source",
                first(original, "source"),
                attrs={"file": None, "dev": None, key: disk.path},
                attr_order=(key,),
            )
        ]
    target = compose(
        "target",
        first(original, "target"),
        attrs={"dev": disk.target, "bus": disk.bus},
        attr_order=("dev", "bus"),
    )
    return compose(
        "disk",
        original,
        attrs={"type": disk.type, "device": disk.device},
        attr_order=_DISK_ATTRS,
        children={
            "driver": present(driver),
            "source": source,
            "target": [target],
            "readonly": [Element("readonly")] if disk.readonly else [],
            "shareable": [Element("shareable")] if disk.shareable else [],
            "boot": _boot(original, disk.boot_order),
        },
        child_order=_DISK_CHILDREN,
        keep=keep_user_child,
    )


# --- interfaces -----------------------------------------------------------------------------

_NET_TYPES = (
    "ethernet", "vhostuser", "server", "client", "mcast", "network", "bridge", "internal",
    "direct", "hostdev", "udp", "user", "vdpa", "null", "vds",
)  # fmt: skip
_NET_SOURCE_KINDS = ("network", "bridge")  # the types whose source we model (by name)
_GENERATED_IFNAME_PREFIXES = ("vnet", "macvtap", "macvlan")
_MODEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_NET_CHILDREN = (
    "mac", "source", "virtualport", "ip", "route", "script", "downscript", "backenddomain",
    "bandwidth", "vlan", "port", "target", "guest", "model", "driver", "backend", "filterref",
    "tune", "teaming", "link", "mtu", "coalesce", "boot", "rom", "alias", "address", "acpi",
)  # fmt: skip


def parse_interface(element: Element) -> Interface:
    net_type = enum_attr(element, "type", _NET_TYPES, "user")
    mac_element = first(element, "mac")
    mac_text = mac_element.get("address") if mac_element is not None else None
    if mac_text:
        mac = parse_mac(mac_text)
        if mac is None:
            raise VirtError(
                ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, f"unable to parse mac address '{mac_text}'"
            )
        if is_multicast_mac(mac):
            raise VirtError(
                ErrorCode.XML_ERROR,
                ErrorDomain.DOMAIN,
                f"expected unicast mac address, found multicast '{mac}'",
            )
    else:
        mac = generate_mac()
    source = None
    if net_type in _NET_SOURCE_KINDS:
        source_element = first(element, "source")
        if source_element is None:
            raise VirtError(
                ErrorCode.XML_ERROR,
                ErrorDomain.DOMAIN,
                f"interface type='{net_type}' requires a 'source' element",
            )
        source = source_element.get(net_type)
        if not source:
            raise missing_attribute(source_element, net_type)
    target = first(element, "target")
    target_dev = target.get("dev") if target is not None else None
    if target_dev and target_dev.startswith(_GENERATED_IFNAME_PREFIXES):
        target_dev = None
    model_element = first(element, "model")
    model = (model_element.get("type") if model_element is not None else None) or None
    if model is not None and not set(model) <= _MODEL_CHARS:
        raise VirtError(
            ErrorCode.INVALID_ARG, ErrorDomain.DOMAIN, "Model name contains invalid characters"
        )
    return Interface(
        type=net_type,
        mac=mac,
        source=source,
        model=model,
        target_dev=target_dev or None,
        boot_order=parse_boot_order(element),
        element=element,
    )


def format_interface(interface: Interface, live_target_dev: str | None = None) -> Element:
    original = interface.element
    children: dict[str, list[Element]] = {
        "mac": [compose("mac", first(original, "mac"), attrs={"address": interface.mac})],
        "model": (
            [compose("model", first(original, "model"), attrs={"type": interface.model})]
            if interface.model
            else []
        ),
        "boot": _boot(original, interface.boot_order),
    }
    if interface.type in _NET_SOURCE_KINDS:
        names = {
            kind: interface.source if kind == interface.type else None for kind in _NET_SOURCE_KINDS
        }
        children["source"] = [
            compose("source", first(original, "source"), attrs=names, attr_order=(interface.type,))
        ]
    target = compose(
        "target", first(original, "target"), attrs={"dev": live_target_dev or interface.target_dev}
    )
    children["target"] = present(target)
    return compose(
        "interface",
        original,
        attrs={"type": interface.type},
        attr_order=("type",),
        children=children,
        child_order=_NET_CHILDREN,
        keep=keep_user_child,
    )


# --- serials and consoles -------------------------------------------------------------------

_CHR_TYPES = (
    "null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp", "unix", "spicevmc",
    "spiceport", "nmdm", "qemu-vdagent", "dbus",
)  # fmt: skip
_PATH_CHR_TYPES = ("dev", "file", "pipe", "unix")
SERIAL_TARGET_TYPES = (
    "isa-serial", "usb-serial", "pci-serial", "spapr-vio-serial", "system-serial", "sclp-serial",
    "isa-debug",
)  # fmt: skip
CONSOLE_TARGET_TYPES = ("serial", "xen", "uml", "virtio", "lxc", "openvz", "sclp", "sclplm")
_CHR_CHILDREN = ("source", "protocol", "log", "target", "alias", "address")
_CHR_SOURCE_ATTRS = ("mode", "host", "service", "path", "append")


def parse_chardev(element: Element, target_types: Sequence[str]) -> CharDevice:
    """A serial or console; `target_types` are the `<target type>` values that kind allows."""
    chr_type = element.get("type", "pty")
    if chr_type not in _CHR_TYPES:
        raise VirtError(
            ErrorCode.CONFIG_UNSUPPORTED,
            ErrorDomain.DOMAIN,
            f"unknown type presented to host for character device: {chr_type}",
        )
    source = first(element, "source")
    path = source.get("path") if source is not None else None
    mode = None
    if chr_type in _PATH_CHR_TYPES and not path:
        raise VirtError(
            ErrorCode.INTERNAL_ERROR,
            ErrorDomain.DOMAIN,
            "Missing source path attribute for char device",
        )
    if chr_type == "unix" and source is not None:
        mode = enum_attr(source, "mode", ("bind", "connect"), "connect")
    logs = element.findall("log")
    if len(logs) > 1:
        raise VirtError(
            ErrorCode.XML_ERROR,
            ErrorDomain.DOMAIN,
            "only one log element is allowed for character device",
        )
    log_file = logs[0].get("file") or None if logs else None
    log_append = bool_attr(logs[0], "append", "on", "off") if logs else None
    target = first(element, "target")
    target_type = target.get("type") if target is not None else None
    if target_type is not None and target_type not in target_types:
        raise VirtError(
            ErrorCode.CONFIG_UNSUPPORTED,
            ErrorDomain.DOMAIN,
            f"unknown target type '{target_type}' specified for character device",
        )
    port_text = target.get("port") if target is not None else None
    port = None
    if port_text is not None:
        port = parse_signed(port_text)
        if port is None or not -1 <= port <= UINT_MAX:
            raise VirtError(
                ErrorCode.XML_ERROR, ErrorDomain.DOMAIN, f"Invalid port number: {port_text}"
            )
    return CharDevice(
        type=chr_type,
        path=path if chr_type in _PATH_CHR_TYPES else None,
        mode=mode,
        log_file=log_file,
        log_append=log_append if log_file else None,
        target_type=target_type,
        target_port=None if port == -1 else port,  # -1: "pick one", as libvirt reads it
        element=element,
    )


def link_consoles(
    serials: Sequence[CharDevice], consoles: Sequence[CharDevice]
) -> tuple[tuple[CharDevice, ...], tuple[CharDevice, ...]]:
    """Number the ports and tie the first console to the first serial, as libvirt does for hvm.

    Serials without a port get the next ones after the highest given port;
    consoles are numbered by position, whatever port was written.

    A console of target type "serial" is the first serial port seen from the
    console side: without serials it becomes that serial; with serials it is
    replaced by a copy of the first; serials without such a console get one.
    """
    next_port = max((s.target_port for s in serials if s.target_port is not None), default=-1) + 1
    numbered: list[CharDevice] = []
    for serial in serials:
        if serial.target_port is None:
            serial, next_port = replace(serial, target_port=next_port), next_port + 1
        numbered.append(serial)
    typed = [
        replace(c, target_type=c.target_type or "serial", target_port=index)
        for index, c in enumerate(consoles)
    ]
    if any(console.target_type == "serial" for console in typed[1:]):
        raise VirtError(
            ErrorCode.CONFIG_UNSUPPORTED,
            ErrorDomain.DOMAIN,
            "Only the first console can be a serial port",
        )
    if typed and typed[0].target_type == "serial":
        if not numbered:
            numbered.append(replace(typed[0], target_type=None, target_port=0))
        typed = typed[1:]
    linked = [replace(numbered[0], target_type="serial")] if numbered else []
    return tuple(numbered), tuple(linked + typed)


def format_chardev(
    tag: str,
    device: CharDevice,
    *,
    pty_path: str | None = None,
    target: Element | None = None,
) -> Element:
    """`tag` is serial or console; `target` replaces the device's own `<target>` when given."""
    original = device.element
    children: dict[str, list[Element]] = {}
    if device.type == "pty":
        children["source"] = [Element("source", {"path": pty_path})] if pty_path else []
    elif device.type in _PATH_CHR_TYPES:
        children["source"] = [
            compose(
                "source",
                first(original, "source"),
                attrs={"mode": device.mode, "path": device.path},
                attr_order=_CHR_SOURCE_ATTRS,
            )
        ]
    children["log"] = []
    if device.log_file:
        append = bool_word(device.log_append, "on", "off")
        log = compose(
            "log", first(original, "log"), attrs={"file": device.log_file, "append": append}
        )
        children["log"] = [log]
    if target is None:
        target = compose(
            "target",
            first(original, "target"),
            attrs={"type": device.target_type, "port": _port(device.target_port)},
            attr_order=("type", "port"),
        )
    children["target"] = [target]
    tty = pty_path if tag == "console" and device.type == "pty" else None
    return compose(
        tag,
        original,
        attrs={"type": device.type, "tty": tty},
        attr_order=("type", "tty"),
        children=children,
        child_order=_CHR_CHILDREN,
        keep=keep_user_child,
    )


def _port(port: int | None) -> str | None:
    return None if port is None else str(port)


# --- graphics -------------------------------------------------------------------------------

_GRAPHICS_TYPES = ("sdl", "vnc", "rdp", "desktop", "spice", "egl-headless", "dbus")
_PORTED_GRAPHICS = ("vnc", "spice")
_GRAPHICS_ATTRS = (
    "type", "socket", "port", "tlsPort", "autoport", "websocket", "listen", "keymap",
    "sharePolicy", "defaultMode", "passwd", "passwdValidTo", "connected",
)  # fmt: skip


def parse_graphics(element: Element) -> Graphics:
    graphics_type = element.get("type")
    if graphics_type is None:
        raise missing_attribute(element, "type")
    if graphics_type not in _GRAPHICS_TYPES:
        raise invalid_attribute(element, "type", graphics_type)
    if graphics_type not in _PORTED_GRAPHICS:
        return Graphics(type=graphics_type, port=None, autoport=False, element=element)
    port = _graphics_port(element, "port", graphics_type)
    tls_port = _graphics_port(element, "tlsPort", graphics_type)
    _graphics_port(element, "websocket", graphics_type)
    autoport_word = element.get("autoport")
    if graphics_type == "vnc":
        autoport = port == -1 or autoport_word == "yes" or (port is None and autoport_word != "no")
    else:
        autoport = autoport_word == "yes"
    if autoport:
        port = tls_port = None
    listen = _first_listen_address(element)
    if graphics_type == "spice" and not (port or tls_port or autoport):
        listen = None
    return Graphics(
        type=graphics_type,
        port=port or None,
        autoport=autoport,
        tls_port=tls_port or None,
        listen=listen,
        passwd=element.get("passwd"),
        element=element,
    )


def _graphics_port(element: Element, name: str, graphics_type: str) -> int | None:
    text = element.get(name)
    if text is None:
        return None
    value = parse_signed(text)
    if value is None or abs(value) > 2**31:
        if graphics_type == "vnc" and name == "port":
            raise VirtError(
                ErrorCode.INTERNAL_ERROR, ErrorDomain.DOMAIN, f"cannot parse vnc port {text}"
            )
        raise invalid_attribute(element, name, text, " Expected integer value")
    return value


def _first_listen_address(element: Element) -> str | None:
    attribute = element.get("listen") or None
    listens = element.findall("listen")
    if not listens:
        return attribute
    head = listens[0]
    address = head.get("address") if head.get("type", "address") == "address" else None
    if attribute is not None and address is not None and attribute != address:
        raise VirtError(
            ErrorCode.CONFIG_UNSUPPORTED,
            ErrorDomain.DOMAIN,
            f"graphics 'listen' attribute '{attribute}' must match 'address' attribute "
            f"of first listen element (found '{address}')",
        )
    return address or attribute


def format_graphics(graphics: Graphics, *, secure: bool, live_port: int | None = None) -> Element:
    original = graphics.element
    if graphics.type not in _PORTED_GRAPHICS:
        return compose(
            "graphics", original, attrs={"type": graphics.type}, attr_order=_GRAPHICS_ATTRS
        )
    listens = _listens(graphics)
    attrs: dict[str, str | None] = {"type": graphics.type}
    head_type = listens[0].get("type")
    if graphics.type == "vnc":
        on_network = head_type in ("address", "network")  # not a socket, not "none"
        attrs["port"] = _vnc_port(graphics, live_port) if on_network else None
        attrs["autoport"] = bool_word(graphics.autoport) if on_network else None
    else:
        port = live_port if graphics.autoport else graphics.port
        attrs["port"] = _port(port)
        attrs["tlsPort"] = _port(graphics.tls_port)
        if port or graphics.tls_port or graphics.autoport:
            attrs["autoport"] = bool_word(graphics.autoport)
    attrs["listen"] = graphics.listen if head_type == "address" else None
    attrs["passwd"] = graphics.passwd if secure else None
    if not graphics.passwd:
        attrs["passwdValidTo"] = None
    return compose(
        "graphics",
        original,
        attrs=attrs,
        attr_order=_GRAPHICS_ATTRS,
        children={"listen": listens},
        child_order=("listen",),
    )


def _vnc_port(graphics: Graphics, live_port: int | None) -> str | None:
    """The port a running domain got, -1 for "pick one", else the fixed port if any."""
    if live_port:
        return str(live_port)
    return "-1" if graphics.autoport else _port(graphics.port)


def _listens(graphics: Graphics) -> list[Element]:
    """The `<listen>` children, with libvirt's implicit one when the user gave none."""
    if graphics.type == "spice" and not (graphics.port or graphics.tls_port or graphics.autoport):
        return [Element("listen", {"type": "none"})]
    original = graphics.element
    listens = original.findall("listen") if original is not None else []
    socket = original.get("socket") if original is not None else None
    if not listens and socket is not None:
        return [Element("listen", {"type": "socket", "socket": socket})]
    head = listens[0] if listens else None
    if head is None or head.get("type", "address") == "address":
        head = compose(
            "listen",
            head,
            attrs={"type": "address", "address": graphics.listen},
            attr_order=("type", "address"),
        )
    return [head, *listens[1:]]
