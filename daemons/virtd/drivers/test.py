"""The test driver: libvirt's test:///default, persisted, with instant transitions.

At first start it holds one running domain named `test`, as libvirt's does.
Unlike libvirt's in-memory driver, definitions and states persist, so a
workflow spread over several virsh invocations (and daemon restarts) works.
"""

from __future__ import annotations

import os
import time


from common.errors import ErrorCode, ErrorDomain, VirtError
from daemons.virtd.domain import xml as domain_xml
from daemons.virtd.domain.objects import DomainObject
from daemons.virtd.domain.state import DomainState, RunningReason
from daemons.virtd.drivers.base import Driver

URI = "test:///default"

DEFAULT_DOMAIN_XML = """<domain type='test'>
  <name>test</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <memory unit='KiB'>8388608</memory>
  <currentMemory unit='KiB'>2097152</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='i686'>hvm</type>
    <boot dev='hd'/>
  </os>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <source file='/guest/diskimage1'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
    </interface>
  </devices>
</domain>
"""


class TestDriver(Driver):
    type_name = "TEST"
    error_domain = ErrorDomain.TEST
    hypervisor_version = 2

    def __init__(self, state_dir: str, runtime_dir: str) -> None:
        super().__init__(URI, os.path.join(state_dir, "test"), os.path.join(runtime_dir, "test"))
        self.load()
        self._seed_default_domain(os.path.join(state_dir, "test", "seeded"))

    def _seed_default_domain(self, marker: str) -> None:
        """The `test` domain, defined and running, the first time this driver starts."""
        if os.path.exists(marker):
            return
        definition = domain_xml.parse(DEFAULT_DOMAIN_XML)
        if self.domains.find_uuid(definition.uuid) is None:
            obj = DomainObject.persistent_from(definition)
            self.domains.add(obj)
            self._save_config(definition)
            obj.activate(self.domains.allocate_id(), DomainState.RUNNING, RunningReason.UNKNOWN)
            self._save_status(obj)
        with open(marker, "w"):
            pass

    def hv_start(self, obj: DomainObject, paused: bool) -> None:
        """The test hypervisor starts instantly."""

    def hv_stop(self, obj: DomainObject, graceful: bool) -> None:
        """The test hypervisor stops instantly."""

    def hv_shutdown(self, obj: DomainObject) -> bool:
        return True

    def hv_reboot(self, obj: DomainObject) -> None:
        """A test guest reboots instantly."""

    def hv_pause(self, obj: DomainObject) -> None:
        """The test hypervisor pauses instantly."""

    def hv_resume(self, obj: DomainObject) -> None:
        """The test hypervisor resumes instantly."""

    def cpu_time_ns(self, obj: DomainObject) -> int:
        # libvirt's test driver reports the wall clock as CPU time; so do we.
        return time.time_ns()

    def os_type(self, obj: DomainObject) -> str:
        return "linux"

    def security_model(self) -> tuple[str, str]:
        return "testSecurity", ""

    def security_label(self, obj: DomainObject) -> tuple[str, bool]:
        return "libvirt-test", True

    def already_running_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST,
                         f"Domain '{obj.name}' is already running")

    def not_running_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST,
                         f"domain '{obj.name}' not running")

    def not_paused_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST,
                         f"domain '{obj.name}' not paused")


