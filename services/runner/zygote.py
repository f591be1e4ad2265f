"""The zygote: one process that warms yt-dlp up once and forks a ready yt-dlp process per download.

Warming yt-dlp costs about one CPU-second (imports, ~1,900 extractor patterns, option parsing); a fork of a
warm process costs a few milliseconds and shares its memory. The runner starts the zygote with subprocess
and talks to it over a SOCK_SEQPACKET socket (its fd number in PRT_RUNNER_ZYGOTE_FD):

- runner → zygote: b"fork" with three file descriptors (the child's stdin, stdout, stderr);
- zygote → runner: b"pid <pid>" for each fork, and b"exit <pid> <returncode>" when a child ends.

Each child starts its own session (so the runner can kill it with its ffmpeg children as one process group)
and then behaves exactly like a warm yt-dlp process (warm_ytdlp.serve_one_job). Children kill their group
if the zygote dies; the zygote exits if the runner dies.
"""
from __future__ import annotations

import gc
import os
import select
import signal
import socket
import sys
import threading

from services.runner import warm_ytdlp

CONTROL_FD_VARIABLE = "PRT_RUNNER_ZYGOTE_FD"


def _exit_status(status: int) -> int:
    return os.waitstatus_to_exitcode(status)


def _child(control: socket.socket, wakeup: tuple[int, int], fds: list[int], blocked) -> None:
    """In the forked child: become a session leader with the given stdio, then serve one job."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        control.close()
        for fd in wakeup:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        threading.Thread(target=warm_ytdlp._die_with_parent, args=(os.getppid(),), daemon=True).start()
        warm_ytdlp.serve_one_job(blocked)
    finally:
        os._exit(70)  # serve_one_job exits by itself; reaching here means it raised


def serve(control: socket.socket, blocked) -> None:
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        readable, _, _ = select.select([control, wakeup_read], [], [])
        if wakeup_read in readable:
            os.read(wakeup_read, 512)
        while True:  # report every child that ended
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            control.send(f"exit {pid} {_exit_status(status)}".encode())
        if control in readable:
            try:
                message, fds, _, _ = socket.recv_fds(control, 64, 3)
            except InterruptedError:
                continue
            if not message:
                return  # the runner closed its end
            if message == b"fork" and len(fds) == 3:
                pid = os.fork()
                if pid == 0:
                    _child(control, (wakeup_read, wakeup_write), fds, blocked)
                for fd in fds:
                    os.close(fd)
                control.send(f"pid {pid}".encode())
            else:
                for fd in fds:
                    os.close(fd)


def main() -> None:
    threading.Thread(target=warm_ytdlp._die_with_parent, args=(os.getppid(),), daemon=True).start()
    control = socket.socket(fileno=int(os.environ.pop(CONTROL_FD_VARIABLE)))
    blocked = warm_ytdlp.warm_settings()
    # The warm heap goes to the GC's permanent generation: collections in the children then leave its pages
    # alone instead of copying them on write.
    gc.collect()
    gc.freeze()
    control.send(b"ready")
    try:
        serve(control, blocked)
    finally:
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
