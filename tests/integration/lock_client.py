"""Lease owners as real processes, for virtlockd's integration tests.

`OwnerProcess` starts a child (`python -m tests.integration.lock_client SOCKET`)
that connects to a lock socket and registers itself, with its own pid, as a
lease owner, the way a QEMU process's connection does. The test then drives
it one lock call at a time over its stdin/stdout (one JSON object per line)
and can kill it, or make it drop its connection while it keeps running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from common.errors import VirtError
from daemons.virtlockd.client import LockClient

REPO = Path(__file__).resolve().parents[2]


class OwnerProcess:
    """A child process holding its own lock connection, registered with its own pid."""

    def __init__(self, socket: Path | str, name: str, dom_id: int = 1) -> None:
        self.name = name
        self.uuid = uuid.uuid4()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.lock_client", str(socket)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        self.pid = self.proc.pid
        self.call("register", str(self.uuid), name, dom_id)

    def call(self, op: str, *args: Any) -> None:
        """Run one lock call in the child; raises the daemon's error as VirtError."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([op, *args]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"owner {self.name} exited ({self.proc.wait()}) during {op}")
        reply = json.loads(line)
        if reply is not None:
            raise VirtError.formatted(*reply)

    def acquire(self, lockspace: str, resource: str, flags: int = 0) -> None:
        self.call("acquire", lockspace, resource, flags)

    def release(self, lockspace: str, resource: str, flags: int = 0) -> None:
        self.call("release", lockspace, resource, flags)

    def disconnect(self) -> None:
        """Make the child close its lock connection and keep running. There is no answer:
        the daemon may terminate the child for it at once."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(["disconnect"]) + "\n")
        self.proc.stdin.flush()

    def kill(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _serve(socket: str) -> None:
    """The child: execute the parent's calls, answering null or [code, domain, message]
    (a disconnect gets no answer)."""
    client = LockClient(socket)
    for line in sys.stdin:
        op, *args = json.loads(line)
        if op == "disconnect":
            client.close()
            continue
        try:
            if op == "register":
                client.register(uuid.UUID(args[0]), args[1], args[2], os.getpid())
            else:
                getattr(client, op)(*args)
        except VirtError as err:
            reply: Any = [err.code, err.domain, err.message]
        else:
            reply = None
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
