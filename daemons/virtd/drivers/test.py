"""The test driver: libvirt's test:///default, persisted, with instant transitions.

At first start it holds one running domain named `test`, as libvirt's does.
Unlike libvirt's in-memory driver, definitions and states persist, so a
workflow spread over several virsh invocations (and daemon restarts) works.

Other deliberate differences from libvirt's test driver, which skips checks its
real drivers make: undefining or autostarting a transient domain is refused,
`start --paused` works, and a failed lookup names what was looked for, as
libvirt's QEMU driver does.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import replace

from common.errors import ErrorCode, ErrorDomain, VirtError
from daemons.virtd.domain import xml as domain_xml
from daemons.virtd.domain.definition import DomainDefinition
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
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='aa:bb:cc:dd:ee:ff'/>
      <source network='default'/>
      <target dev='testnet0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </memballoon>
  </devices>
</domain>
"""


class TestDriver(Driver):
    type_name = "TEST"
    acl_name = "Test"
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

    def prepare_definition(self, definition: DomainDefinition) -> DomainDefinition:
        """libvirt's test driver defaults: the i686 arch, and `testnetN` for unnamed NICs."""
        taken = {nic.target_dev for nic in definition.interfaces if nic.target_dev}
        free_names = (name for name in map("testnet{}".format, itertools.count())
                      if name not in taken)
        interfaces = tuple(nic if nic.target_dev else replace(nic, target_dev=next(free_names))
                           for nic in definition.interfaces)
        return replace(definition, arch=definition.arch or "i686", interfaces=interfaces)

    def hv_start(self, obj: DomainObject, domain_id: int, paused: bool) -> None:
        """The test hypervisor starts instantly."""

    def hv_stop(self, obj: DomainObject, graceful: bool) -> None:
        """The test hypervisor stops instantly."""

    def hv_reattach(self, obj: DomainObject) -> bool:
        """A test domain lives as long as its status file."""
        return True

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
        """Only an active domain has a label (virsh dominfo prints none for an inactive one)."""
        return ("libvirt-test", True) if obj.active else ("", False)

    def already_running_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST,
                         f"Domain '{obj.name}' is already running")

    def not_running_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST,
                         f"domain '{obj.name}' not running")

    def not_paused_error(self, obj: DomainObject) -> VirtError:
        return VirtError(ErrorCode.INTERNAL_ERROR, ErrorDomain.TEST,
                         f"domain '{obj.name}' not paused")


