"""What every hypervisor driver shares: definitions, persistence, lifecycle rules, events.

A concrete driver supplies the hypervisor actions (start, stop, pause, ...) and a
few driver-specific answers; the state machine, the checks with libvirt's
errors, persistence and lifecycle events live here once.
"""

from __future__ import annotations

import logging
import os
import threading
import socket
from dataclasses import dataclass
from uuid import UUID

from common.log.fields import fields
from common.errors import ErrorCode, ErrorDomain, VirtError, check_flags
from daemons.virtd.domain import xml as domain_xml
from daemons.virtd.domain.definition import DomainDefinition
from daemons.virtd.domain.events import EventBus
from daemons.virtd.domain.objects import DomainObject, DomainRegistry, no_domain
from daemons.virtd.domain.state import (
    DefinedDetail,
    DomainState,
    Event,
    PausedReason,
    ResumedDetail,
    RunningReason,
    ShutoffReason,
    StartedDetail,
    StoppedDetail,
    SuspendedDetail,
    UndefinedDetail,
)
from daemons.virtd.domain.store import DomainStore, Status

log = logging.getLogger("virtd.virtd.driver")

DEFINE_VALIDATE = 1
START_PAUSED, START_AUTODESTROY, START_BYPASS_CACHE, START_FORCE_BOOT, START_VALIDATE = (
    1, 2, 4, 8, 16)
DESTROY_GRACEFUL = 1
UNDEFINE_ALLOWED = 1 | 2 | 4 | 8 | 16 | 32 | 64
XML_SECURE, XML_INACTIVE, XML_UPDATE_CPU, XML_MIGRATABLE = 1, 2, 4, 8
MESSAGES_TAINTING, MESSAGES_DEPRECATION = 1, 2

# virConnectListAllDomainsFlags, in their filter groups (reference §6.7).
LIST_ACTIVE, LIST_INACTIVE = 1, 2
LIST_PERSISTENT, LIST_TRANSIENT = 4, 8
LIST_RUNNING, LIST_PAUSED, LIST_SHUTOFF, LIST_OTHER = 16, 32, 64, 128
LIST_MANAGEDSAVE, LIST_NO_MANAGEDSAVE = 256, 512
LIST_AUTOSTART, LIST_NO_AUTOSTART = 1024, 2048
LIST_HAS_SNAPSHOT, LIST_NO_SNAPSHOT = 4096, 8192
LIST_HAS_CHECKPOINT, LIST_NO_CHECKPOINT = 16384, 32768
LIST_ALL_FLAGS = (1 << 16) - 1


@dataclass(frozen=True, slots=True)
class DomainInfo:
    state: int
    max_mem_kib: int
    memory_kib: int
    vcpus: int
    cpu_time_ns: int


class Driver:
    """A hypervisor driver: one registry of domains, persisted under its own directories."""

    type_name = ""
    """What virConnectGetType answers ("TEST", "QEMU")."""
    acl_name = ""
    """The connect_driver detail polkit rules see ("Test", "QEMU"), as libvirt names it."""
    error_domain = ErrorDomain.NONE
    hypervisor_version = 0
    runs_processes = False
    """Whether active domains are real processes (they keep the daemon from idling out)."""

    def __init__(self, uri: str, state_dir: str, runtime_dir: str) -> None:
        self.uri = uri
        self.store = DomainStore(state_dir, runtime_dir)
        self.runtime_dir = runtime_dir
        self.events = EventBus(self.type_name)
        self.domains = DomainRegistry(no_domain(self.error_domain))
        self._config_lock = threading.Lock()
        """Serializes changes to persistent definitions, whose durable writes can be slow;
        `domains.lock` guards the indexes and states and is only held briefly."""

    # -- driver-specific hooks ------------------------------------------------------

    def hv_start(self, obj: DomainObject, domain_id: int, paused: bool) -> None:
        """Start the VM that will carry `domain_id`."""
        raise NotImplementedError

    def hv_stop(self, obj: DomainObject, graceful: bool) -> None:
        raise NotImplementedError

    def hv_reattach(self, obj: DomainObject) -> bool:
        """After a daemon restart: find the VM of a saved status again; False if it is gone."""
        raise NotImplementedError

    def hv_shutdown(self, obj: DomainObject) -> bool:
        """Ask the guest to power off; True if it is already off when this returns."""
        raise NotImplementedError

    def hv_reboot(self, obj: DomainObject) -> None:
        raise NotImplementedError

    def hv_pause(self, obj: DomainObject) -> None:
        raise NotImplementedError

    def hv_resume(self, obj: DomainObject) -> None:
        raise NotImplementedError

    def cpu_time_ns(self, obj: DomainObject) -> int:
        raise NotImplementedError

    def os_type(self, obj: DomainObject) -> str:
        return obj.definition.os_type

    def security_model(self) -> tuple[str, str]:
        return "", ""

    def security_label(self, obj: DomainObject) -> tuple[str, bool]:
        return "", False

    def already_running_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.OPERATION_INVALID, self.error_domain, "domain is already running")

    def not_running_error(self, obj: DomainObject) -> VirtError:
        return domain_not_running()

    def not_paused_error(self, obj: DomainObject) -> VirtError:
        """Refusal to resume `obj`, which is not paused (and perhaps not even active)."""
        if not obj.active:
            return domain_not_running()
        return VirtError(ErrorCode.OPERATION_INVALID, self.error_domain, "domain is not paused")

    def prepare_definition(self, definition: DomainDefinition) -> DomainDefinition:
        """Check that this driver can run `definition` and fill in its defaults."""
        return definition

    # -- loading --------------------------------------------------------------------

    def load(self) -> None:
        """Adopt every saved definition and runtime status (after a daemon restart)."""
        for stored in self.store.load():
            try:
                self._adopt(stored.config_xml, stored.status, stored.autostart)
            except VirtError as err:
                log.error("cannot load domain %s: %s", stored.name, err.message)

    def _adopt(self, config_xml: str | None, status: Status | None, autostart: bool) -> None:
        config = self.prepare_definition(domain_xml.parse(config_xml)) if config_xml else None
        live = self.prepare_definition(domain_xml.parse(status.xml)) if status else None
        first = config or live
        if first is None:
            return
        obj = DomainObject(first.name, first.uuid, config, live=live,
                           autostart=autostart and config is not None)
        if status is not None:
            obj.id = status.id
            obj.started_at = status.started_at
            obj.hv = status.hv
            obj.set_state(DomainState(status.state), status.reason)
            if not status.persistent:
                obj.config = None
            self.domains.note_id(status.id)
        self.domains.add(obj)
        if status is not None and not self.hv_reattach(obj):
            log.warning("domain %s stopped while the daemon was not running", obj.name,
                        extra=fields(domain_name=obj.name, domain_uuid=str(obj.uuid)))
            self._stopped(obj, ShutoffReason.CRASHED, StoppedDetail.CRASHED)

    # -- persistence helpers ----------------------------------------------------------

    def _save_status(self, obj: DomainObject) -> None:
        live_xml = domain_xml.format(obj.definition, inactive=False, secure=True,
                                     live_state={"id": obj.id})
        self.store.save_status(obj.name, Status(obj.id, int(obj.state), obj.reason,
                                                obj.persistent, live_xml, obj.started_at,
                                                obj.hv))

    def _save_config(self, definition: DomainDefinition) -> None:
        self.store.save_config(definition.name, domain_xml.format(definition, inactive=True,
                                                                  secure=True))

    def _emit(self, obj: DomainObject, event: Event, detail: int) -> None:
        self.events.emit(obj.ref(), event, detail)

    # -- definitions ----------------------------------------------------------------

    def _check_unique(self, definition: DomainDefinition) -> DomainObject | None:
        """The existing object this definition replaces, or an error if it clashes."""
        by_uuid = self.domains.find_uuid(definition.uuid)
        if by_uuid is not None:
            if by_uuid.name != definition.name:
                raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                                f"domain '{by_uuid.name}' is already defined with uuid "
                                f"{by_uuid.uuid}")
            return by_uuid
        by_name = self.domains.find_name(definition.name)
        if by_name is not None:
            raise VirtError(ErrorCode.OPERATION_FAILED, ErrorDomain.DOMAIN,
                            f"domain '{by_name.name}' already exists with uuid {by_name.uuid}")
        return None

    def define(self, xml: str, flags: int) -> DomainObject:
        check_flags(flags, DEFINE_VALIDATE, "virDomainDefineXMLFlags", self.error_domain)
        definition = self.prepare_definition(domain_xml.parse(xml))
        with self._config_lock:
            with self.domains.lock:
                self._check_unique(definition)
            # The slow, durable write holds only the config lock: lifecycle calls go on.
            self._save_config(definition)
            return self._defined(definition)

    def _defined(self, definition: DomainDefinition) -> DomainObject:
        """Adopt a definition already saved to disk (callers hold the config lock)."""
        with self.domains.lock:
            existing = self._check_unique(definition)
            if existing is None:
                obj = DomainObject.persistent_from(definition)
                self.domains.add(obj)
                detail = DefinedDetail.ADDED
            else:
                obj = existing
                detail = DefinedDetail.UPDATED if obj.persistent else DefinedDetail.ADDED
                obj.config = definition
                if obj.active:
                    self._save_status(obj)
            self._emit(obj, Event.DEFINED, detail)
            return obj

    def undefine(self, obj: DomainObject, flags: int) -> None:
        check_flags(flags, UNDEFINE_ALLOWED, "virDomainUndefineFlags", self.error_domain)
        with self._config_lock:
            if not obj.persistent:
                raise VirtError(ErrorCode.OPERATION_INVALID, self.error_domain,
                                "cannot undefine transient domain")
            self.store.delete_config(obj.name)
            with self.domains.lock:
                self._forget_config(obj)

    def _forget_config(self, obj: DomainObject) -> None:
        """The definition is gone from disk: a running domain becomes transient."""
        self._emit(obj, Event.UNDEFINED, UndefinedDetail.REMOVED)
        obj.config = None
        obj.autostart = False
        if obj.active:
            self._save_status(obj)
        else:
            self.domains.remove(obj)

    def set_autostart(self, obj: DomainObject, on: bool) -> None:
        with self._config_lock:
            if not obj.persistent:
                raise VirtError(ErrorCode.OPERATION_INVALID, self.error_domain,
                                "cannot set autostart for transient domain")
            self.store.set_autostart(obj.name, on)
            obj.autostart = on

    # -- lifecycle ------------------------------------------------------------------

    def _start(self, obj: DomainObject, paused: bool) -> None:
        domain_id = self.domains.allocate_id()
        self.hv_start(obj, domain_id, paused)
        obj.activate(domain_id, DomainState.RUNNING, RunningReason.BOOTED)
        self._emit(obj, Event.STARTED, StartedDetail.BOOTED)
        if paused:
            obj.set_state(DomainState.PAUSED, PausedReason.USER)
            self._emit(obj, Event.SUSPENDED, SuspendedDetail.PAUSED)
        self._save_status(obj)

    def create(self, obj: DomainObject, flags: int) -> None:
        check_flags(flags, START_PAUSED | START_AUTODESTROY | START_BYPASS_CACHE |
                    START_FORCE_BOOT | START_VALIDATE, "virDomainCreateWithFlags",
                    self.error_domain)
        with obj.job:
            if obj.active:
                raise self.already_running_error(obj)
            self._start(obj, bool(flags & START_PAUSED))

    def create_xml(self, xml: str, flags: int) -> DomainObject:
        check_flags(flags, START_PAUSED | START_AUTODESTROY | START_BYPASS_CACHE |
                    START_VALIDATE, "virDomainCreateXML", self.error_domain)
        definition = self.prepare_definition(domain_xml.parse(xml))
        with self._config_lock:
            with self.domains.lock:
                existing = self._check_unique(definition)
                if existing is not None and existing.active:
                    raise VirtError(ErrorCode.OPERATION_INVALID, self.error_domain,
                                    f"domain '{existing.name}' is already active")
                obj = existing or DomainObject.transient_from(definition)
                if existing is None:
                    self.domains.add(obj)
        with obj.job:
            obj.live = definition
            try:
                self._start(obj, bool(flags & START_PAUSED))
            except VirtError:
                obj.live = None
                if existing is None:
                    self.domains.remove(obj)
                raise
            return obj

    def _stopped(self, obj: DomainObject, reason: ShutoffReason, detail: StoppedDetail) -> None:
        obj.deactivate(reason)
        self.store.delete_status(obj.name)
        self._emit(obj, Event.STOPPED, detail)
        if not obj.persistent:
            self.domains.remove(obj)

    def _require_active(self, obj: DomainObject) -> None:
        if not obj.active:
            raise self.not_running_error(obj)

    def destroy(self, obj: DomainObject, flags: int) -> None:
        check_flags(flags, DESTROY_GRACEFUL, "virDomainDestroyFlags", self.error_domain)
        with obj.job:
            if not obj.active:
                raise domain_not_running()
            self.hv_stop(obj, graceful=bool(flags & DESTROY_GRACEFUL))
            self._stopped(obj, ShutoffReason.DESTROYED, StoppedDetail.DESTROYED)

    def shutdown(self, obj: DomainObject, flags: int) -> None:
        check_flags(flags, 0xFF, "virDomainShutdownFlags", self.error_domain)
        with obj.job:
            self._require_active(obj)
            if self.hv_shutdown(obj):
                self._stopped(obj, ShutoffReason.SHUTDOWN, StoppedDetail.SHUTDOWN)

    def reboot(self, obj: DomainObject, flags: int) -> None:
        check_flags(flags, 0xFF, "virDomainReboot", self.error_domain)
        with obj.job:
            if not obj.active:
                raise domain_not_running()
            self.hv_reboot(obj)
            obj.set_state(DomainState.RUNNING, RunningReason.BOOTED)
            self._save_status(obj)

    def suspend(self, obj: DomainObject) -> None:
        with obj.job:
            if obj.state != DomainState.RUNNING or not obj.active:
                raise self.not_running_error(obj)
            self.hv_pause(obj)
            obj.set_state(DomainState.PAUSED, PausedReason.USER)
            self._save_status(obj)
            self._emit(obj, Event.SUSPENDED, SuspendedDetail.PAUSED)

    def resume(self, obj: DomainObject) -> None:
        with obj.job:
            if obj.state != DomainState.PAUSED:
                raise self.not_paused_error(obj)
            self.hv_resume(obj)
            obj.set_state(DomainState.RUNNING, RunningReason.UNPAUSED)
            self._save_status(obj)
            self._emit(obj, Event.RESUMED, ResumedDetail.UNPAUSED)

    def autostart_all(self) -> None:
        """Start autostart domains, once per host boot (a marker in the runtime dir)."""
        marker = os.path.join(self.runtime_dir, "autostarted")
        if os.path.exists(marker):
            return
        with open(marker, "w"):
            pass
        for obj in self.domains.all():
            if obj.autostart and not obj.active:
                try:
                    self.create(obj, 0)
                except VirtError as err:
                    log.error("cannot autostart domain %s: %s", obj.name, err.message)

    # -- queries ----------------------------------------------------------------------

    def info(self, obj: DomainObject) -> DomainInfo:
        d = obj.definition
        return DomainInfo(int(obj.state), d.memory_kib, d.current_memory_kib,
                          d.effective_current_vcpus, self.cpu_time_ns(obj))

    def xml_desc(self, obj: DomainObject, flags: int) -> str:
        check_flags(flags, XML_SECURE | XML_INACTIVE | XML_UPDATE_CPU | XML_MIGRATABLE,
                    "virDomainGetXMLDesc", self.error_domain)
        secure = bool(flags & XML_SECURE)
        if (flags & (XML_INACTIVE | XML_MIGRATABLE)) or not obj.active:
            definition = obj.config if (flags & XML_INACTIVE and obj.config) else obj.definition
            return domain_xml.format(definition, inactive=True, secure=secure)
        return domain_xml.format(obj.definition, inactive=False, secure=secure,
                                 live_state={"id": obj.id})

    def list_all(self, flags: int) -> list[DomainObject]:
        check_flags(flags, LIST_ALL_FLAGS, "virConnectListAllDomains", self.error_domain)
        matches = [obj for obj in self.domains.all() if _list_filter(obj, flags)]
        return sorted(matches, key=lambda o: (not o.active, o.id if o.active else 0, o.name))

    def lookup_uuid(self, uuid: UUID, name: str | None = None) -> DomainObject:
        return self.domains.by_uuid(uuid, name)

    def hostname(self) -> str:
        return socket.gethostname()


def domain_not_running() -> VirtError:
    """libvirt's shared refusal (virDomainObjCheckActive) to act on an inactive domain."""
    return VirtError(ErrorCode.OPERATION_INVALID, ErrorDomain.DOMAIN, "domain is not running")


def _group(flags: int, yes: int, no: int, value: bool) -> bool:
    """A filter group: no bit set means no filtering on it."""
    wanted = flags & (yes | no)
    if not wanted or wanted == yes | no:
        return True
    return value if wanted == yes else not value


def _list_filter(obj: DomainObject, flags: int) -> bool:
    if not _group(flags, LIST_ACTIVE, LIST_INACTIVE, obj.active):
        return False
    if not _group(flags, LIST_PERSISTENT, LIST_TRANSIENT, obj.persistent):
        return False
    if not _group(flags, LIST_AUTOSTART, LIST_NO_AUTOSTART, obj.autostart):
        return False
    if not _group(flags, LIST_MANAGEDSAVE, LIST_NO_MANAGEDSAVE, False):
        return False
    if not _group(flags, LIST_HAS_SNAPSHOT, LIST_NO_SNAPSHOT, False):
        return False
    if not _group(flags, LIST_HAS_CHECKPOINT, LIST_NO_CHECKPOINT, False):
        return False
    state_bits = flags & (LIST_RUNNING | LIST_PAUSED | LIST_SHUTOFF | LIST_OTHER)
    if state_bits:
        kind = {DomainState.RUNNING: LIST_RUNNING, DomainState.PAUSED: LIST_PAUSED,
                DomainState.SHUTOFF: LIST_SHUTOFF}.get(obj.state, LIST_OTHER)
        return bool(state_bits & kind)
    return True
