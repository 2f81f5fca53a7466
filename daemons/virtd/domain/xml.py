"""Domain XML: parse and validate `<domain>` into a DomainDefinition, and format it back.

Behaviour follows libvirt 9.0 for everything we model (checked against its
test driver): the same errors (code, domain, message), the same defaults
(`<boot dev='hd'/>`, `<clock offset='utc'/>`, lifecycle actions, a console for
the first serial port, generated UUID and MAC) and the same layout (element
and attribute order, memory normalised to KiB, two-space indentation).

Deliberate differences, for safety or because the piece belongs elsewhere:
  * DTDs/entities are refused, names are limited to names.MAX_NAME_BYTES, a
    relative `<resource><partition>` is refused at define time (libvirt's
    QEMU driver refuses it at start); parse-error texts come from expat.
  * Only domain types kvm/qemu/test, OS type hvm and disk types file/block.
  * Elements and attributes libvirt does not know are kept, not dropped.
  * Implicit devices a hypervisor driver adds (controllers, `<video>`, PCI
    and drive addresses, `<numatune>` for automatic placement, the test
    driver's `testnetN` NIC names) and a default arch are left to the drivers.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TypeVar
from xml.etree.ElementTree import Element

from common.errors import ErrorCode, ErrorDomain, VirtError

from . import safexml
from .definition import (
    CRASH_ACTIONS,
    DOMAIN_TYPES,
    LIFECYCLE_ACTIONS,
    OS_TYPES,
    CpuTune,
    DomainDefinition,
    LiveState,
    Loader,
    MemTune,
)
from .devices import (
    CONSOLE_TARGET_TYPES,
    SERIAL_TARGET_TYPES,
    check_disk_targets,
    format_chardev,
    format_disk,
    format_graphics,
    format_interface,
    keep_user_child,
    link_consoles,
    parse_boot_order,
    parse_chardev,
    parse_disk,
    parse_graphics,
    parse_interface,
    sort_disks,
)
from .names import check_name
from .values import UINT_MAX, UNLIMITED_KIB, parse_signed, parse_unsigned, parse_uuid, scaled_kib
from .xmlread import (
    bool_attr,
    bool_word,
    child_text,
    enum_attr,
    first,
    invalid_attribute,
    required,
    text_of,
)
from .xmlwrite import Foreign, compose, present, serialize, text_element

SOURCE = "domain_definition"
_T = TypeVar("_T")

ARCHES = (
    "alpha", "armv6l", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc",
    "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "riscv32", "riscv64", "s390",
    "s390x", "sh4", "sh4eb", "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
)  # fmt: skip
# In the order libvirt prints them.
FEATURES = (
    "acpi", "apic", "pae", "hap", "viridian", "privnet", "hyperv", "kvm", "pvspinlock",
    "capabilities", "pmu", "vmport", "gic", "smm", "ioapic", "hpt", "vmcoreinfo", "htm",
    "nested-hv", "msrs", "ccf-assist", "xen", "cfpc", "sbbc", "ibs", "tcg",
)  # fmt: skip
CPU_MODES = ("custom", "host-model", "host-passthrough", "maximum")
CLOCK_OFFSETS = ("utc", "localtime", "timezone", "variable", "absolute")
BOOT_DEVICES = ("fd", "hd", "cdrom", "network")
_MAX_BOOT_DEVICES = 4
_SHARES_RANGE = (2, 262144)
_PERIOD_RANGE = (1000, 1000000)
_QUOTA_RANGE = (1000, 17592186044415)

# Children in the order libvirt prints them; those we do not model are copied into place.
_DOMAIN_CHILDREN = (
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
    "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
    "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity",
)  # fmt: skip
_OS_CHILDREN = (
    "type", "firmware", "init", "initarg", "initenv", "initdir", "inituser", "initgroup",
    "loader", "nvram", "kernel", "initrd", "cmdline", "dtb", "root", "acpi", "boot", "bootmenu",
    "bios", "smbios",
)  # fmt: skip
_DEVICE_CHILDREN = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic",
    "shmem", "memory", "iommu", "vsock", "crypto",
)  # fmt: skip
_MODELLED_DEVICES = ("emulator", "disk", "interface", "serial", "console", "graphics")
_CPUTUNE_CHILDREN = (
    "shares", "period", "quota", "global_period", "global_quota", "emulator_period",
    "emulator_quota", "iothread_period", "iothread_quota", "vcpupin", "emulatorpin",
    "iothreadpin", "emulatorsched", "vcpusched", "iothreadsched", "cachetune", "memorytune",
)  # fmt: skip
_MEMTUNE_CHILDREN = ("hard_limit", "soft_limit", "min_guarantee", "swap_hard_limit")


def _error(code: int, detail: str, domain: int = ErrorDomain.DOMAIN) -> VirtError:
    return VirtError(code, domain, detail)


# --- parse ----------------------------------------------------------------------------------


def parse(text: str) -> DomainDefinition:
    """Parse and validate domain XML as `virsh define` would; raises VirtError only."""
    root = safexml.parse(text, source=SOURCE, error_domain=ErrorDomain.DOMAIN)
    if root.tag.rpartition(":")[2] != "domain":
        raise _error(
            ErrorCode.XML_ERROR,
            f"expecting root element of 'domain', not '{root.tag}'",
            ErrorDomain.XML,
        )
    domain_type = root.get("type")
    if domain_type is None:
        raise _error(ErrorCode.INTERNAL_ERROR, "missing domain type attribute")
    name = child_text(root, "name")
    if name is None:
        raise _error(ErrorCode.NO_NAME, "missing name information")
    check_name(name)
    title = child_text(root, "title")
    if title is not None and "\n" in title:
        raise _error(ErrorCode.XML_ERROR, "Domain title can't contain newlines")
    vcpu = first(root, "vcpu")
    vcpus, current_vcpus = _vcpu_counts(vcpu)
    os = first(root, "os")
    os_type_element = first(os, "type")
    os_type = text_of(os_type_element)
    if os_type is None or os_type_element is None:
        raise _error(ErrorCode.XML_ERROR, "an os <type> must be specified")
    _check_kind(domain_type, os_type, os_type_element.get("arch"))
    clock = first(root, "clock")
    devices = first(root, "devices")
    disks = sort_disks([parse_disk(element) for element in _all(devices, "disk")])
    serials, consoles = link_consoles(
        [parse_chardev(e, SERIAL_TARGET_TYPES) for e in _all(devices, "serial")],
        [parse_chardev(e, CONSOLE_TARGET_TYPES) for e in _all(devices, "console")],
    )
    definition = DomainDefinition(
        name=name,
        uuid=_uuid(child_text(root, "uuid")),
        domain_type=domain_type,
        memory_kib=_size(root, "memory", "./memory[1]") or 0,
        os_type=os_type,
        current_memory_kib=_size(root, "currentMemory", "./currentMemory[1]") or 0,
        vcpus=vcpus,
        current_vcpus=current_vcpus,
        vcpu_placement=_placement(vcpu),
        cpuset=vcpu.get("cpuset") if vcpu is not None else None,
        title=title,
        description=child_text(root, "description"),
        arch=os_type_element.get("arch"),
        machine=os_type_element.get("machine"),
        boot_devices=_boot_devices(os),
        kernel=child_text(os, "kernel"),
        initrd=child_text(os, "initrd"),
        cmdline=child_text(os, "cmdline"),
        loader=_loader(first(os, "loader")),
        nvram=child_text(os, "nvram"),
        features=_features(first(root, "features")),
        cpu_mode=_cpu_mode(first(root, "cpu")),
        clock_offset=clock.get("offset", "utc") if clock is not None else "utc",
        on_poweroff=_action(root, "on_poweroff", LIFECYCLE_ACTIONS, "destroy"),
        on_reboot=_action(root, "on_reboot", LIFECYCLE_ACTIONS, "restart"),
        on_crash=_action(root, "on_crash", CRASH_ACTIONS, "destroy"),
        emulator=child_text(devices, "emulator"),
        disks=disks,
        interfaces=tuple(parse_interface(e) for e in _all(devices, "interface")),
        serials=serials,
        consoles=consoles,
        graphics=tuple(parse_graphics(e) for e in _all(devices, "graphics")),
        partition=_partition(first(root, "resource")),
        cputune=_cputune(first(root, "cputune")),
        memtune=_memtune(first(root, "memtune")),
        blkio_weight=_blkio_weight(first(root, "blkiotune")),
        element=root,
    )
    if not definition.boot_devices and not _device_boot_orders(definition):
        definition = replace(definition, boot_devices=("hd",))
    validate(definition)
    return definition


def _all(parent: Element | None, tag: str) -> list[Element]:
    return parent.findall(tag) if parent is not None else []


def _uuid(text: str | None) -> uuidlib.UUID:
    if text is None:
        return uuidlib.uuid4()
    parsed = parse_uuid(text)
    if parsed is None:
        raise _error(ErrorCode.INTERNAL_ERROR, "malformed uuid element")
    return parsed


def _size(parent: Element | None, tag: str, xpath: str) -> int | None:
    """A `<tag unit=...>` size in KiB; None when absent or empty."""
    element = first(parent, tag)
    text = text_of(element)
    if text is None or element is None:
        return None
    return scaled_kib(text, element.get("unit") or "", xpath)


def _vcpu_counts(vcpu: Element | None) -> tuple[int, int | None]:
    if vcpu is None:
        return 1, None
    count = parse_unsigned(text_of(vcpu) or "", UINT_MAX)
    if count is None:
        raise _error(ErrorCode.XML_ERROR, "maximum vcpus count must be an integer")
    current_text = vcpu.get("current")
    if current_text is None:
        return count, None
    current = parse_unsigned(current_text, UINT_MAX)
    if current is None:
        raise invalid_attribute(
            vcpu, "current", current_text, " Expected non-negative integer value"
        )
    return count, None if current == count else current


def _placement(vcpu: Element | None) -> str:
    if vcpu is None:
        return "static"
    return enum_attr(vcpu, "placement", ("static", "auto"), "static")


def _boot_devices(os: Element | None) -> tuple[str, ...]:
    devices = []
    for boot in _all(os, "boot")[:_MAX_BOOT_DEVICES]:
        dev = required(boot, "dev")
        if dev not in BOOT_DEVICES:
            raise invalid_attribute(boot, "dev", dev)
        devices.append(dev)
    return tuple(devices)


def _loader(loader: Element | None) -> Loader | None:
    if loader is None:
        return None
    path = text_of(loader)
    loader_type = enum_attr(loader, "type", ("rom", "pflash"))
    return Loader(
        path=path,
        readonly=bool_attr(loader, "readonly"),
        secure=bool_attr(loader, "secure"),
        type=loader_type or ("rom" if path else None),
    )


def _features(features: Element | None) -> tuple[str, ...]:
    names: list[str] = []
    for feature in features if features is not None else ():
        if feature.tag not in FEATURES:
            raise _error(ErrorCode.CONFIG_UNSUPPORTED, f"unexpected feature '{feature.tag}'")
        if feature.tag not in names:
            names.append(feature.tag)
    return tuple(sorted(names, key=FEATURES.index))


def _cpu_mode(cpu: Element | None) -> str | None:
    mode = cpu.get("mode") if cpu is not None else None
    if mode is not None and mode not in CPU_MODES:
        raise _error(
            ErrorCode.CONFIG_UNSUPPORTED, f"Invalid mode attribute '{mode}'", ErrorDomain.CPU
        )
    return mode


def _action(root: Element, tag: str, allowed: tuple[str, ...], default: str) -> str:
    action = child_text(root, tag)
    if action is None:
        return default
    if action not in CRASH_ACTIONS:
        raise _error(ErrorCode.CONFIG_UNSUPPORTED, f"unknown {tag} action: {action}")
    if action not in allowed:
        event = tag.removeprefix("on_")
        raise _error(
            ErrorCode.CONFIG_UNSUPPORTED,
            f"Lifecycle event '{event}' doesn't support '{action}' action",
        )
    return action


def _partition(resource: Element | None) -> str | None:
    if resource is None:
        return None
    partition = child_text(resource, "partition")
    if partition is None and not any(child.tag != "partition" for child in resource):
        raise _error(ErrorCode.XML_ERROR, "missing resource partition")
    return partition


def _cputune(cputune: Element | None) -> CpuTune:
    def number(tag: str) -> int | None:
        element = first(cputune, tag)
        if element is None:
            return None
        text = text_of(element) or ""
        value = parse_signed(text) if tag == "quota" else parse_unsigned(text)
        if value is None:
            raise _error(ErrorCode.XML_ERROR, f"can't parse cputune {tag} value")
        return value

    return CpuTune(
        shares=number("shares"), period=number("period") or None, quota=number("quota") or None
    )


def _memtune(memtune: Element | None) -> MemTune:
    def limit(tag: str) -> int | None:
        kib = _size(memtune, tag, f"./memtune/{tag}[1]")
        return None if kib is None or kib >= UNLIMITED_KIB else kib

    return MemTune(
        hard_limit_kib=limit("hard_limit"),
        soft_limit_kib=limit("soft_limit"),
        min_guarantee_kib=limit("min_guarantee"),
        swap_hard_limit_kib=limit("swap_hard_limit"),
    )


def _blkio_weight(blkiotune: Element | None) -> int | None:
    """libvirt ignores a weight it cannot read, and 0 means unset."""
    return parse_unsigned(child_text(blkiotune, "weight") or "", UINT_MAX) or None


def _device_boot_orders(definition: DomainDefinition) -> list[int]:
    """Per-device `<boot order>` values: of disks and NICs, and of devices we only carry."""
    orders = [disk.boot_order for disk in definition.disks if disk.boot_order]
    orders += [nic.boot_order for nic in definition.interfaces if nic.boot_order]
    devices = first(definition.element, "devices")
    for device in devices if devices is not None else ():
        if device.tag not in _MODELLED_DEVICES:
            order = parse_boot_order(device)
            if order is not None:
                orders.append(order)
    return orders


# --- validate -------------------------------------------------------------------------------


def validate(definition: DomainDefinition) -> None:
    """The checks libvirt makes on a whole definition; run again after changing one in code."""
    check_name(definition.name)
    _check_kind(definition.domain_type, definition.os_type, definition.arch)
    if definition.memory_kib <= 0:
        raise _error(
            ErrorCode.XML_ERROR,
            "Memory size must be specified via <memory> or in the <numa> configuration",
        )
    if definition.vcpus == 0:
        raise _error(ErrorCode.INTERNAL_ERROR, "CPU IDs in <numa> exceed the <vcpu> count")
    if definition.effective_current_vcpus > definition.vcpus:
        raise _error(
            ErrorCode.CONFIG_UNSUPPORTED,
            "maximum vCPU count must not be less than current vCPU count",
        )
    if definition.clock_offset not in CLOCK_OFFSETS:
        raise _error(
            ErrorCode.CONFIG_UNSUPPORTED, f"unknown clock offset '{definition.clock_offset}'"
        )
    _check_cputune(definition.cputune)
    if definition.partition is not None and not definition.partition.startswith("/"):
        raise _error(
            ErrorCode.CONFIG_UNSUPPORTED,
            f"Resource partition '{definition.partition}' must start with '/'",
        )
    check_disk_targets(definition.disks)
    _check_boot_orders(definition)


def _check_kind(domain_type: str, os_type: str, arch: str | None) -> None:
    """What runs the domain; libvirt checks this before anything else in the definition."""
    if domain_type not in DOMAIN_TYPES:
        raise _error(ErrorCode.CONFIG_UNSUPPORTED, f"invalid domain type {domain_type}")
    if os_type not in OS_TYPES:
        raise _error(ErrorCode.CONFIG_UNSUPPORTED, f"unknown OS type '{os_type}'")
    if arch is not None and arch not in ARCHES:
        raise _error(ErrorCode.CONFIG_UNSUPPORTED, f"Unknown architecture {arch}")


def _check_cputune(cputune: CpuTune) -> None:
    checks = (
        ("shares", cputune.shares, _SHARES_RANGE),
        ("period", cputune.period, _PERIOD_RANGE),
        ("quota", cputune.quota if cputune.quota and cputune.quota > 0 else None, _QUOTA_RANGE),
    )
    for name, value, (low, high) in checks:
        if value and not low <= value <= high:
            raise _error(
                ErrorCode.CONFIG_UNSUPPORTED,
                f"Value of cputune '{name}' must be in range [{low}, {high}]",
            )


def _check_boot_orders(definition: DomainDefinition) -> None:
    orders = _device_boot_orders(definition)
    if orders and definition.boot_devices:
        raise _error(
            ErrorCode.CONFIG_UNSUPPORTED,
            "per-device boot elements cannot be used together with os/boot elements",
        )
    seen: set[int] = set()
    for order in orders:
        if order in seen:
            raise _error(
                ErrorCode.CONFIG_UNSUPPORTED, f"boot order '{order}' used for more than one device"
            )
        seen.add(order)


# --- format ---------------------------------------------------------------------------------


def format(
    definition: DomainDefinition,
    *,
    inactive: bool,
    secure: bool,
    live_state: LiveState | None = None,
) -> str:
    """The domain's XML as `virsh dumpxml` prints it.

    `inactive` gives the persistent view (no id, nothing live); `secure` adds
    secrets (graphics passwords); `live_state` describes a running domain.
    """
    live: LiveState = {} if inactive or live_state is None else live_state
    root = definition.element
    domain = compose(
        "domain",
        root,
        attrs={"type": definition.domain_type, "id": str(live["id"]) if "id" in live else None},
        attr_order=("type", "id"),
        children={
            "name": [text_element("name", definition.name)],
            "uuid": [text_element("uuid", str(definition.uuid))],
            "title": _text_list("title", definition.title),
            "description": _text_list("description", definition.description),
            "metadata": _metadata(root),
            "memory": [_memory_xml("memory", root, definition.memory_kib)],
            "currentMemory": [_memory_xml("currentMemory", root, definition.current_memory_kib)],
            "blkiotune": _blkiotune_xml(definition, first(root, "blkiotune")),
            "memtune": _memtune_xml(definition.memtune, first(root, "memtune")),
            "vcpu": [_vcpu_xml(definition, first(root, "vcpu"))],
            "cputune": _cputune_xml(definition.cputune, first(root, "cputune")),
            "resource": _resource_xml(definition, first(root, "resource"), live),
            "os": [_os_xml(definition, first(root, "os"))],
            "features": _features_xml(definition, first(root, "features")),
            "cpu": _cpu_xml(definition, first(root, "cpu")),
            "clock": [
                compose("clock", first(root, "clock"), attrs={"offset": definition.clock_offset})
            ],
            "on_poweroff": [text_element("on_poweroff", definition.on_poweroff)],
            "on_reboot": [text_element("on_reboot", definition.on_reboot)],
            "on_crash": [text_element("on_crash", definition.on_crash)],
            "devices": [_devices_xml(definition, first(root, "devices"), secure, live)],
        },
        child_order=_DOMAIN_CHILDREN,
    )
    _drop_unused_namespaces(domain)
    return serialize(domain, always_open=frozenset({"devices"}))


def _text_list(tag: str, text: str | None) -> list[Element]:
    return [text_element(tag, text)] if text else []


def _memory_xml(tag: str, root: Element | None, kib: int) -> Element:
    return compose(
        tag, first(root, tag), attrs={"unit": "KiB"}, attr_order=("dumpCore", "unit"), text=str(kib)
    )


def _blkiotune_xml(definition: DomainDefinition, original: Element | None) -> list[Element]:
    weight = _text_list("weight", str(definition.blkio_weight) if definition.blkio_weight else None)
    blkiotune = compose(
        "blkiotune", original, children={"weight": weight}, child_order=("weight", "device")
    )
    return present(blkiotune)


def _memtune_xml(memtune: MemTune, original: Element | None) -> list[Element]:
    def limit(tag: str, kib: int | None) -> list[Element]:
        return [text_element(tag, str(kib), {"unit": "KiB"})] if kib is not None else []

    children = {
        "hard_limit": limit("hard_limit", memtune.hard_limit_kib),
        "soft_limit": limit("soft_limit", memtune.soft_limit_kib),
        "min_guarantee": limit("min_guarantee", memtune.min_guarantee_kib),
        "swap_hard_limit": limit("swap_hard_limit", memtune.swap_hard_limit_kib),
    }
    return present(compose("memtune", original, children=children, child_order=_MEMTUNE_CHILDREN))


def _vcpu_xml(definition: DomainDefinition, original: Element | None) -> Element:
    current = definition.current_vcpus
    return compose(
        "vcpu",
        original,
        attrs={
            "placement": definition.vcpu_placement,
            "cpuset": definition.cpuset,
            "current": None if current is None or current == definition.vcpus else str(current),
        },
        attr_order=("placement", "cpuset", "current"),
        text=str(definition.vcpus),
    )


def _cputune_xml(cputune: CpuTune, original: Element | None) -> list[Element]:
    children = {
        "shares": _text_list("shares", None if cputune.shares is None else str(cputune.shares)),
        "period": _text_list("period", str(cputune.period) if cputune.period else None),
        "quota": _text_list("quota", str(cputune.quota) if cputune.quota else None),
    }
    return present(compose("cputune", original, children=children, child_order=_CPUTUNE_CHILDREN))


def _resource_xml(
    definition: DomainDefinition, original: Element | None, live: LiveState
) -> list[Element]:
    partition = definition.partition or live.get("partition")
    children = {"partition": _text_list("partition", partition)}
    return present(compose("resource", original, children=children, child_order=("partition",)))


def _os_xml(definition: DomainDefinition, original: Element | None) -> Element:
    children = {
        "type": [
            compose(
                "type",
                first(original, "type"),
                attrs={"arch": definition.arch, "machine": definition.machine},
                attr_order=("arch", "machine"),
                text=definition.os_type,
            )
        ],
        "loader": _loader_xml(definition.loader, first(original, "loader")),
        "nvram": (
            [compose("nvram", first(original, "nvram"), text=definition.nvram)]
            if definition.nvram
            else []
        ),
        "kernel": _text_list("kernel", definition.kernel),
        "initrd": _text_list("initrd", definition.initrd),
        "cmdline": _text_list("cmdline", definition.cmdline),
        "boot": [Element("boot", {"dev": dev}) for dev in definition.boot_devices],
    }
    return compose("os", original, children=children, child_order=_OS_CHILDREN)


def _loader_xml(loader: Loader | None, original: Element | None) -> list[Element]:
    if loader is None:
        return []
    attrs = {
        "readonly": bool_word(loader.readonly),
        "secure": bool_word(loader.secure),
        "type": loader.type,
    }
    order = ("readonly", "secure", "type")
    return [compose("loader", original, attrs=attrs, attr_order=order, text=loader.path)]


def _features_xml(definition: DomainDefinition, original: Element | None) -> list[Element]:
    def feature(name: str) -> Element:
        given = first(original, name)
        return given if given is not None else Element(name)

    children = {name: [feature(name)] for name in definition.features}
    known = {child.tag for child in original} if original is not None else set()
    children.update({name: [] for name in known if name in FEATURES and name not in children})
    return present(compose("features", original, children=children, child_order=FEATURES))


def _cpu_xml(definition: DomainDefinition, original: Element | None) -> list[Element]:
    return present(
        compose("cpu", original, attrs={"mode": definition.cpu_mode}, attr_order=("mode",))
    )


def _devices_xml(
    definition: DomainDefinition, original: Element | None, secure: bool, live: LiveState
) -> Element:
    ptys = live.get("serial_pty_paths", [])
    ports = live.get("graphics_ports", [])
    taps = live.get("interface_target_devs", [])
    serials = definition.serials
    consoles = [
        (
            format_chardev(
                "console",
                serials[0],
                pty_path=_nth(ptys, 0),
                target=Element(
                    "target", {"type": "serial", "port": str(serials[0].target_port or 0)}
                ),
            )
            if index == 0 and console.target_type == "serial" and serials
            else format_chardev("console", console)
        )
        for index, console in enumerate(definition.consoles)
    ]
    children = {
        "emulator": _text_list("emulator", definition.emulator),
        "disk": [format_disk(disk) for disk in definition.disks],
        "interface": [
            format_interface(nic, _nth(taps, index))
            for index, nic in enumerate(definition.interfaces)
        ],
        "serial": [
            format_chardev("serial", serial, pty_path=_nth(ptys, index))
            for index, serial in enumerate(serials)
        ],
        "console": consoles,
        "graphics": [
            format_graphics(graphics, secure=secure, live_port=_nth(ports, index))
            for index, graphics in enumerate(definition.graphics)
        ],
    }
    for tag in _DEVICE_CHILDREN:
        if tag not in children:
            children[tag] = [_without_live_aliases(device) for device in _all(original, tag)]
    return compose("devices", original, children=children, child_order=_DEVICE_CHILDREN)


def _nth(values: Sequence[_T | None], index: int) -> _T | None:
    """The live value for the index-th device, if the caller gave one."""
    return values[index] if index < len(values) else None


def _without_live_aliases(device: Element) -> Element:
    return compose(device.tag, device, text=device.text, keep=keep_user_child)


# --- metadata -------------------------------------------------------------------------------


def _metadata(root: Element | None) -> list[Element]:
    """`<metadata>` as libvirt keeps it: one namespaced element per namespace, libxml2's style."""
    original = first(root, "metadata")
    if original is None or root is None:
        return []
    scopes = (original.attrib, root.attrib)
    metadata = Foreign("metadata", {k: v for k, v in original.attrib.items() if _is_ns_decl(k)})
    seen: set[str] = set()
    for child in original:
        uri = _resolve(child, child.tag, scopes)
        if not uri or uri in seen:
            continue
        seen.add(uri)
        metadata.append(child)
        for prefix in _used_prefixes(child):
            key = f"xmlns:{prefix}"
            if key not in metadata.attrib and _resolve(child, f"{prefix}:x", ()) is None:
                inherited = next((scope[key] for scope in scopes if key in scope), None)
                if inherited is not None:
                    metadata.set(key, inherited)
    return [metadata]


def _drop_unused_namespaces(domain: Element) -> None:
    """Root prefix declarations only metadata used: libvirt moves those onto `<metadata>`."""
    used = {
        prefix for child in domain if child.tag != "metadata" for prefix in _used_prefixes(child)
    }
    for name in [n for n in domain.attrib if n.startswith("xmlns:") and n[6:] not in used]:
        del domain.attrib[name]


def _is_ns_decl(name: str) -> bool:
    return name == "xmlns" or name.startswith("xmlns:")


def _resolve(element: Element, qname: str, scopes: tuple[dict[str, str], ...]) -> str | None:
    prefix, _, _ = qname.rpartition(":")
    key = f"xmlns:{prefix}" if prefix else "xmlns"
    for scope in (element.attrib, *scopes):
        if key in scope:
            return scope[key]
    return None


def _used_prefixes(element: Element) -> Iterator[str]:
    for node in element.iter():
        for name in (node.tag, *node.attrib):
            prefix = name.partition(":")[0] if ":" in name else None
            if prefix and prefix not in ("xmlns", "xml"):
                yield prefix
