"""Stays the parent of nginx's master for the local stack (ops/nginx/run_local.py execs into this once the
configuration is written, so that the process that stays up for the stack's life holds only the standard
library: about 4 MiB instead of the ~20 MiB of the settings and their validation).

Nothing outlives its supervisor: nginx's master gets SIGTERM (its fast shutdown, which stops its workers)
when this process dies; when the master dies, even by kill -9, this process kills the master's process group
(its workers, which would otherwise keep the port) and exits, so that supervisord's restart can bind the port.
It exits with supervisord in the same way (common/lifecycle.py).

Usage: python -S -m ops.nginx.supervise NGINX ARGUMENTS...
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from common.lifecycle import become_subreaper, die_with_parent, exit_with_supervisor


def supervise(command: list[str]) -> int:
    """Runs nginx's master in its own process group until it exits, passing on stop signals; then kills
    whatever is left of the group and reaps it. Returns the master's exit code."""
    become_subreaper()  # workers orphaned by a killed master come back here to be reaped
    parent = os.getpid()
    master = subprocess.Popen(command, process_group=0,
                              preexec_fn=lambda: die_with_parent(signal.SIGTERM, parent=parent))

    def forward(signum, _frame) -> None:
        try:
            master.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, forward)
    code = master.wait()
    try:
        os.killpg(master.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return code


def main() -> None:
    exit_with_supervisor()
    code = supervise(sys.argv[1:])
    print(f"nginx: the master exited with code {code}; its workers are stopped", flush=True)
    sys.exit(0 if code == 0 else 1)


if __name__ == "__main__":
    main()
