"""libvirt-python, run by Debian's /usr/bin/python3, drives virtd as it drives libvirt.

This file is also the client script: `/usr/bin/python3 test_libvirt_python.py
SCENARIO URI` runs one scenario with nothing but the standard library and
python3-libvirt, and prints what it saw as JSON. The tests run every scenario
against virtd and against libvirt's in-process test driver (`test:///default`)
and compare; the client side needs neither pytest nor anything from this repository.

Lifecycle events are received the way applications receive them: libvirt's
default event loop implementation, run by a thread, and a callback registered
with domainEventRegisterAny.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import libvirt

if TYPE_CHECKING:
    from tests.integration.daemons import RunningDaemon

DEBIAN_PYTHON = "/usr/bin/python3"
LIBVIRT_TEST = "test:///default"

VM_XML = """<domain type='test'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='KiB'>1048576</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
    </interface>
  </devices>
</domain>
"""
VM1 = VM_XML.format(name="vm1", uuid="11111111-2222-3333-4444-555555555555")
VM1_CLASH = VM_XML.format(name="vm1", uuid="11111111-2222-3333-4444-666666666666")
TRANSIENT = VM_XML.format(name="t1", uuid="77777777-2222-3333-4444-555555555555")
EVENT_WAIT_SECONDS = 10.0


# -- the client side (runs under /usr/bin/python3) --------------------------------------------


class EventLog:
    """Lifecycle events as the default event loop delivers them to our callback."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []
        self._changed = threading.Condition()

    def callback(self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int,
                 detail: int, _opaque: object) -> None:
        with self._changed:
            self.events.append((dom.name(), event, detail))
            self._changed.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, int, int]]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, EVENT_WAIT_SECONDS)
            return list(self.events)


def run_event_loop() -> None:
    libvirt.virEventRegisterDefaultImpl()

    def loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True, name="libvirt-events").start()


def state_of(dom: libvirt.virDomain) -> list[int]:
    return list(dom.state())


def workflow(uri: str) -> dict[str, Any]:
    """Define, start, pause, resume, shut down, destroy and undefine, with events."""
    run_event_loop()
    conn = libvirt.open(uri)
    log = EventLog()
    callback_id = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                              log.callback, None)
    dom = conn.defineXML(VM1)
    states = {"defined": state_of(dom)}
    report: dict[str, Any] = {
        "persistent": dom.isPersistent(), "os_type": dom.OSType(), "uuid": dom.UUIDString(),
        "inactive_xml": dom.XMLDesc(0),
    }
    dom.create()
    states["started"] = state_of(dom)
    report["running_info"] = dom.info()[:4]
    report["running_xml"] = dom.XMLDesc(0)
    report["active_ids"] = sorted(d.name() for d in conn.listAllDomains(
        libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
    dom.suspend()
    states["suspended"] = state_of(dom)
    dom.resume()
    states["resumed"] = state_of(dom)
    dom.shutdown()
    states["shut down"] = state_of(dom)
    dom.create()
    dom.destroy()
    states["destroyed"] = state_of(dom)
    dom.undefine()
    transient = conn.createXML(TRANSIENT, 0)
    report["transient_persistent"] = transient.isPersistent()
    transient.destroy()
    report["all_after"] = sorted(d.name() for d in conn.listAllDomains(0))
    report["states"] = states
    report["events"] = log.wait_for(10)
    conn.domainEventDeregisterAny(callback_id)
    conn.close()
    return report


def error_of(call: Callable[[], object]) -> list[object]:
    """[code, domain, message] of the libvirtError `call` raises, or ["no error"]."""
    try:
        call()
    except libvirt.libvirtError as err:
        return [err.get_error_code(), err.get_error_domain(), err.get_error_message()]
    return ["no error"]


def errors(uri: str) -> dict[str, list[object]]:
    """What each failing call raises."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open(uri)
    test = conn.lookupByName("test")
    vm1 = conn.defineXML(VM1)
    found = {
        "start running": error_of(test.create),
        "define clash": error_of(lambda: conn.defineXML(VM1_CLASH)),
        "define malformed": error_of(lambda: conn.defineXML("<domain type='test'>")),
        "define without os": error_of(lambda: conn.defineXML(
            "<domain type='test'><name>x</name><memory>1024</memory></domain>")),
        "define bad root": error_of(lambda: conn.defineXML("<notdomain/>")),
        "destroy inactive": error_of(vm1.destroy),
        "suspend inactive": error_of(vm1.suspend),
        "resume inactive": error_of(vm1.resume),
        "shutdown inactive": error_of(vm1.shutdown),
        "reboot inactive": error_of(lambda: vm1.reboot(0)),
        "resume running": error_of(test.resume),
        "bad flags": error_of(lambda: vm1.XMLDesc(1 << 20)),
    }
    vm1.undefine()
    found["stale handle"] = error_of(vm1.info)
    found["lookup name"] = error_of(lambda: conn.lookupByName("nosuch"))
    found["lookup id"] = error_of(lambda: conn.lookupByID(42))
    found["lookup uuid"] = error_of(
        lambda: conn.lookupByUUIDString("6695eb01-f6a4-8304-79aa-97f2502e193e"))
    conn.close()
    return found


SCENARIOS: dict[str, Callable[[str], Any]] = {"workflow": workflow, "errors": errors}


# -- the tests (run under pytest) ---------------------------------------------------------------


def run_scenario(scenario: str, uri: str) -> Any:
    done = subprocess.run([DEBIAN_PYTHON, str(Path(__file__)), scenario, uri],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def uri_of(daemon: RunningDaemon) -> str:
    return f"test+unix:///default?socket={daemon.socket('sock')}"


def test_workflow_with_lifecycle_events(run_daemon: Callable[..., RunningDaemon]) -> None:
    report = run_scenario("workflow", uri_of(run_daemon("virtd")))
    lv = libvirt
    assert report["events"] == [
        ["vm1", lv.VIR_DOMAIN_EVENT_DEFINED, lv.VIR_DOMAIN_EVENT_DEFINED_ADDED],
        ["vm1", lv.VIR_DOMAIN_EVENT_STARTED, lv.VIR_DOMAIN_EVENT_STARTED_BOOTED],
        ["vm1", lv.VIR_DOMAIN_EVENT_SUSPENDED, lv.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED],
        ["vm1", lv.VIR_DOMAIN_EVENT_RESUMED, lv.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED],
        ["vm1", lv.VIR_DOMAIN_EVENT_STOPPED, lv.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN],
        ["vm1", lv.VIR_DOMAIN_EVENT_STARTED, lv.VIR_DOMAIN_EVENT_STARTED_BOOTED],
        ["vm1", lv.VIR_DOMAIN_EVENT_STOPPED, lv.VIR_DOMAIN_EVENT_STOPPED_DESTROYED],
        ["vm1", lv.VIR_DOMAIN_EVENT_UNDEFINED, lv.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED],
        ["t1", lv.VIR_DOMAIN_EVENT_STARTED, lv.VIR_DOMAIN_EVENT_STARTED_BOOTED],
        ["t1", lv.VIR_DOMAIN_EVENT_STOPPED, lv.VIR_DOMAIN_EVENT_STOPPED_DESTROYED],
    ]
    assert report["states"] == {
        "defined": [lv.VIR_DOMAIN_SHUTOFF, lv.VIR_DOMAIN_SHUTOFF_UNKNOWN],
        "started": [lv.VIR_DOMAIN_RUNNING, lv.VIR_DOMAIN_RUNNING_BOOTED],
        "suspended": [lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PAUSED_USER],
        "resumed": [lv.VIR_DOMAIN_RUNNING, lv.VIR_DOMAIN_RUNNING_UNPAUSED],
        "shut down": [lv.VIR_DOMAIN_SHUTOFF, lv.VIR_DOMAIN_SHUTOFF_SHUTDOWN],
        "destroyed": [lv.VIR_DOMAIN_SHUTOFF, lv.VIR_DOMAIN_SHUTOFF_DESTROYED],
    }
    assert report["running_info"] == [lv.VIR_DOMAIN_RUNNING, 1048576, 524288, 2]
    assert report["active_ids"] == ["test", "vm1"]
    assert report["all_after"] == ["test"]


def test_workflow_matches_libvirt(run_daemon: Callable[..., RunningDaemon]) -> None:
    """Everything the workflow saw, XML included, is what libvirt's test driver shows."""
    ours = run_scenario("workflow", uri_of(run_daemon("virtd")))
    theirs = run_scenario("workflow", LIBVIRT_TEST)
    assert ours == theirs


def test_errors_match_libvirt(run_daemon: Callable[..., RunningDaemon]) -> None:
    """Same code, domain and message, except where virtd documents a difference."""
    ours = run_scenario("errors", uri_of(run_daemon("virtd")))
    theirs = run_scenario("errors", LIBVIRT_TEST)
    not_found = [libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_TEST]
    # Lookups name what was looked for, as libvirt's QEMU driver does (drivers/test.py).
    assert ours.pop("lookup name") == [
        *not_found, "Domain not found: no domain with matching name 'nosuch'"]
    assert ours.pop("lookup id") == [*not_found, "Domain not found: no domain with matching id 42"]
    assert ours.pop("lookup uuid") == [
        *not_found, "Domain not found: no domain with matching uuid "
                    "'6695eb01-f6a4-8304-79aa-97f2502e193e'"]
    for lookup in ("lookup name", "lookup id", "lookup uuid"):
        assert theirs.pop(lookup) == [*not_found, "Domain not found"]
    # Parse errors carry expat's words, not libxml2's (domain/xml.py); code and domain agree.
    ours_parse, theirs_parse = ours.pop("define malformed"), theirs.pop("define malformed")
    assert ours_parse[:2] == theirs_parse[:2] == [libvirt.VIR_ERR_XML_DETAIL,
                                                  libvirt.VIR_FROM_DOMAIN]
    assert ours_parse[2].startswith("(domain_definition):1: ")
    # The unsupported-flags text names libvirt's public function, not the test driver's.
    bad_flags = [libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_FROM_TEST,
                 "unsupported flags (0x100000) in function {}DomainGetXMLDesc"]
    assert ours.pop("bad flags") == [*bad_flags[:2], bad_flags[2].format("vir")]
    assert theirs.pop("bad flags") == [*bad_flags[:2], bad_flags[2].format("test")]

    assert ours == theirs
    assert ours["start running"] == [libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_TEST,
                                     "internal error: Domain 'test' is already running"]
    assert ours["destroy inactive"] == [libvirt.VIR_ERR_OPERATION_INVALID,
                                        libvirt.VIR_FROM_DOMAIN,
                                        "Requested operation is not valid: domain is not running"]
    assert ours["stale handle"] == [
        *not_found, "Domain not found: no domain with matching uuid "
                    "'11111111-2222-3333-4444-555555555555' (vm1)"]

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]](sys.argv[2])))
