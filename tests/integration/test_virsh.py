"""The real virsh against virtd prints what it prints against libvirt.

Where one virsh invocation can carry a whole sequence (`virsh -c URI "a; b; c"`),
the same sequence runs against virtd and against libvirt's in-process test
driver (`test:///default`), which both start with the same running `test`
domain, and the outputs must be identical. Normalised: the CPU time line (the
test drivers report the wall clock) and the parser's own words in an XML
parse error (virtd's come from expat, documented in daemons/virtd/domain/xml.py).
Event streams need two connections at once, so they are checked against
libvirt's daemon (tests/integration/libvirtd.py).

Deliberate differences, documented in daemons/virtd/drivers/test.py, are
asserted on their own: state persists between invocations, undefining a
transient domain is refused, `start --paused` works.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.integration.daemons import RunningDaemon
from tests.integration.libvirtd import Libvirtd, libvirtd  # noqa: F401  (pytest fixture)

LIBVIRT_TEST = "test:///default"

VM1_XML = """<domain type='test'>
  <name>vm1</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <memory unit='MiB'>1024</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/images/vm1.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:12:34:56'/>
      <source network='default'/>
    </interface>
  </devices>
</domain>
"""
# Same name as vm1, another uuid: a clash.
VM1_CLASH_XML = VM1_XML.replace("555555555555", "666666666666")
TRANSIENT_XML = """<domain type='test'>
  <name>t1</name>
  <uuid>77777777-2222-3333-4444-555555555555</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
</domain>
"""
SENTINEL_XML = ("<domain type='test'><name>sentinel</name>"
                "<uuid>99999999-2222-3333-4444-555555555555</uuid><memory>1024</memory>"
                "<os><type>hvm</type></os></domain>")
TRUNCATED_XML = "<domain type='test'><name>broken</name>"
NO_OS_XML = "<domain type='test'><name>noos</name><memory>65536</memory></domain>"

CPU_TIME = re.compile(r"^CPU time: .*$", re.MULTILINE)
PARSE_ERROR = re.compile(r"^(error: \(domain_definition\):\d+:) .*$", re.MULTILINE)


@dataclass(frozen=True)
class Output:
    """What a virsh invocation printed: stdout and stderr interleaved, and its exit status."""

    text: str
    status: int


def virsh(uri: str, commands: str, cwd: Path, timeout: float = 30) -> Output:
    done = subprocess.run(["virsh", "-c", uri, commands], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=cwd, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Output(done.stdout, done.returncode)


def normalised(output: Output) -> Output:
    text = CPU_TIME.sub("CPU time: <wall clock>", output.text)
    return Output(PARSE_ERROR.sub(r"\1 <parser's reason>", text), output.status)


def uri_of(daemon: RunningDaemon, suffix: str = "sock") -> str:
    return f"test+unix:///default?socket={daemon.socket(suffix)}"


@pytest.fixture
def virtd(run_daemon: Callable[..., RunningDaemon]) -> RunningDaemon:
    return run_daemon("virtd")


@pytest.fixture
def xml_dir(tmp_path: Path) -> Path:
    """A working directory holding the domain XML files the commands name."""
    files = {"vm1.xml": VM1_XML, "vm1-clash.xml": VM1_CLASH_XML, "t1.xml": TRANSIENT_XML,
             "truncated.xml": TRUNCATED_XML, "no-os.xml": NO_OS_XML,
             "sentinel.xml": SENTINEL_XML}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def assert_same_as_libvirt(virtd: RunningDaemon, commands: str, cwd: Path) -> Output:
    """Run `commands` in one virsh against virtd and against libvirt's test driver."""
    ours = normalised(virsh(uri_of(virtd), commands, cwd))
    theirs = normalised(virsh(LIBVIRT_TEST, commands, cwd))
    assert ours.text == theirs.text
    assert ours.status == theirs.status
    return ours


def test_queries_print_what_libvirt_prints(virtd: RunningDaemon, tmp_path: Path) -> None:
    out = assert_same_as_libvirt(virtd, (
        "list; list --all; list --inactive; list --all --name; list --all --uuid; "
        "list --persistent --all; list --transient; "
        "dominfo test; dominfo 1; dominfo 6695eb01-f6a4-8304-79aa-97f2502e193f; "
        "domstate test; domstate --reason test; domid test; domname 1; domuuid test; "
        "dumpxml test; dumpxml --inactive test; dumpxml --security-info test; "
        "version; hostname"), tmp_path)
    assert " 1    test   running" in out.text
    assert "Security label: libvirt-test (enforcing)" in out.text
    assert "Running hypervisor: TEST 0.0.2" in out.text


def test_lifecycle_workflow_prints_what_libvirt_prints(virtd: RunningDaemon, xml_dir: Path
                                                       ) -> None:
    out = assert_same_as_libvirt(virtd, (
        "define vm1.xml; list --all; dominfo vm1; domstate --reason vm1; dumpxml vm1; "
        "start vm1; domstate --reason vm1; dominfo vm1; dumpxml vm1; "
        "suspend vm1; domstate --reason vm1; list --all; "
        "resume vm1; domstate --reason vm1; "
        "shutdown vm1; domstate --reason vm1; "
        "start vm1; destroy vm1; domstate --reason vm1; "
        "define vm1.xml; undefine vm1; list --all; "
        "create t1.xml; list --all; dominfo t1; destroy t1; list --all"), xml_dir)
    for line in ("Domain 'vm1' defined from vm1.xml", "Domain 'vm1' started",
                 "paused (user)", "running (unpaused)", "shut off (shutdown)",
                 "shut off (destroyed)", "Domain 'vm1' has been undefined",
                 "Domain 't1' created from t1.xml", "<target dev='testnet0'/>"):
        assert line in out.text
    assert out.status == 0


def test_errors_print_what_libvirt_prints(virtd: RunningDaemon, xml_dir: Path) -> None:
    out = assert_same_as_libvirt(virtd, (
        "dominfo nosuch; dumpxml 42; domstate 6695eb01-f6a4-8304-79aa-97f2502e193e; "
        "start test; define truncated.xml; define no-os.xml; "
        "define vm1.xml; define vm1-clash.xml; "
        "destroy vm1; suspend vm1; resume vm1; shutdown vm1; "
        "resume test; start vm1; suspend vm1; suspend vm1; "
        "undefine nosuch; list --all"), xml_dir)
    for lines in (
        "error: failed to get domain 'nosuch'",
        "error: failed to get domain '42'",
        "error: Domain is already active",
        "error: Failed to define domain from truncated.xml\n"
        "error: (domain_definition):1: <parser's reason>\n"
        f"{TRUNCATED_XML}\n{'-' * len(TRUNCATED_XML)}^",
        "error: Failed to define domain from no-os.xml\n"
        "error: XML error: an os <type> must be specified",
        "error: Failed to define domain from vm1-clash.xml\n"
        "error: operation failed: domain 'vm1' already exists with uuid "
        "11111111-2222-3333-4444-555555555555",
        "error: Failed to destroy domain 'vm1'\n"
        "error: Requested operation is not valid: domain is not running",
        "error: Failed to resume domain 'vm1'\nerror: internal error: domain 'vm1' not paused",
        "error: Failed to suspend domain 'vm1'\nerror: internal error: domain 'vm1' not running",
        "error: Failed to shutdown domain 'vm1'\nerror: internal error: domain 'vm1' not running",
        "error: Failed to resume domain 'test'\nerror: internal error: domain 'test' not paused",
    ):
        assert lines in out.text


def test_state_persists_between_invocations(virtd: RunningDaemon, xml_dir: Path) -> None:
    """A workflow of separate virsh commands works (libvirt's test driver would forget)."""
    uri = uri_of(virtd)
    assert virsh(uri, "define vm1.xml", xml_dir).text == "Domain 'vm1' defined from vm1.xml\n\n"
    assert virsh(uri, "start vm1", xml_dir).text == "Domain 'vm1' started\n\n"
    assert virsh(uri, "suspend vm1", xml_dir).text == "Domain 'vm1' suspended\n\n"
    assert virsh(uri, "list --all", xml_dir).text == (
        " Id   Name   State\n"
        "----------------------\n"
        " 1    test   running\n"
        " 2    vm1    paused\n\n")
    assert virsh(uri, "domstate --reason vm1", xml_dir).text == "paused (user)\n\n"


def test_undefining_a_transient_domain_is_refused(virtd: RunningDaemon, xml_dir: Path) -> None:
    out = virsh(uri_of(virtd), "create t1.xml; undefine t1; domstate t1", xml_dir)
    assert out.text == (
        "Domain 't1' created from t1.xml\n\n"
        "error: Failed to undefine domain 't1'\n"
        "error: Requested operation is not valid: cannot undefine transient domain\n\n"
        "running\n\n")


def test_start_paused(virtd: RunningDaemon, xml_dir: Path) -> None:
    out = virsh(uri_of(virtd), "define vm1.xml; start --paused vm1; domstate --reason vm1",
                xml_dir)
    assert out.text == ("Domain 'vm1' defined from vm1.xml\n\n"
                        "Domain 'vm1' started\n\n"
                        "paused (user)\n\n")


# -- events ---------------------------------------------------------------------------------

EVENT_WORKFLOW = ("define vm1.xml; start vm1; suspend vm1; resume vm1; shutdown vm1; "
                  "start vm1; destroy vm1; undefine vm1; create t1.xml; destroy t1")
EXPECTED_EVENTS = [
    "event 'lifecycle' for domain 'vm1': Defined Added",
    "event 'lifecycle' for domain 'vm1': Started Booted",
    "event 'lifecycle' for domain 'vm1': Suspended Paused",
    "event 'lifecycle' for domain 'vm1': Resumed Unpaused",
    "event 'lifecycle' for domain 'vm1': Stopped Shutdown",
    "event 'lifecycle' for domain 'vm1': Started Booted",
    "event 'lifecycle' for domain 'vm1': Stopped Destroyed",
    "event 'lifecycle' for domain 'vm1': Undefined Removed",
    "event 'lifecycle' for domain 't1': Started Booted",
    "event 'lifecycle' for domain 't1': Stopped Destroyed",
]


class EventWatcher:
    """`virsh event --loop --event lifecycle` in the background, its lines in a queue."""

    def __init__(self, uri: str) -> None:
        self.proc = subprocess.Popen(
            ["virsh", "-c", uri, "event", "--loop", "--event", "lifecycle"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL)
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, deadline: float) -> str | None:
        try:
            return self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def stop(self) -> list[str]:
        """Interrupt the loop as a user's ^C would; the lines virsh printed on its way out."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        self._reader.join(10)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return rest


def watch_workflow_events(uri: str, cwd: Path) -> tuple[list[str], list[str]]:
    """The event lines virsh prints while another virsh runs EVENT_WORKFLOW, and its goodbye.

    The watcher registers asynchronously, so a throwaway domain is defined until
    its event shows up: from then on nothing can be missed.
    """
    watcher = EventWatcher(uri)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert time.monotonic() < deadline, "virsh event never reported the sentinel"
            virsh(uri, "define sentinel.xml", cwd)
            line = watcher.next_line(time.monotonic() + 0.5)
            if line is not None and "'sentinel'" in line:
                break
        workflow = virsh(uri, EVENT_WORKFLOW, cwd)
        assert workflow.status == 0, workflow.text
        events: list[str] = []
        deadline = time.monotonic() + 15
        while len(events) < len(EXPECTED_EVENTS):
            line = watcher.next_line(deadline)
            if line is None:
                break
            if "'sentinel'" not in line:
                events.append(line)
    finally:
        goodbye = watcher.stop()
    return events, goodbye


@pytest.mark.parametrize("server", ["virtd", "libvirtd"])
def test_event_loop_prints_each_lifecycle_event(server: str, request: pytest.FixtureRequest,
                                                xml_dir: Path) -> None:
    """The same lines from both daemons: libvirt's proves the expectation."""
    daemon: RunningDaemon | Libvirtd = request.getfixturevalue(server)
    uri = daemon.uri if isinstance(daemon, Libvirtd) else uri_of(daemon)
    events, goodbye = watch_workflow_events(uri, xml_dir)
    assert events == EXPECTED_EVENTS
    assert goodbye[0] == "event loop interrupted"
    assert not [line for line in goodbye if line.startswith("event '")]
