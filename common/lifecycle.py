"""Process lifetimes: nothing outlives the process that supervises it.

Linux's parent-death signal (prctl PR_SET_PDEATHSIG) is sent when the *thread* that started a process exits;
supervisord, gunicorn's master and ops/nginx/supervise.py are single-threaded, so for their children it means
"when the parent dies". ops/run-stack exports supervisord's pid so that a service started in the instant
between supervisord's fork and its own prctl, while supervisord died, notices it at once.
"""
from __future__ import annotations

import ctypes
import os
import signal

SUPERVISOR_PID_VARIABLE = "PRT_VIDEODOWNLOADER_SUPERVISORPID"

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def die_with_parent(signum: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Has the kernel send signum to this process when its parent exits; when parent (the pid the caller
    expects as parent) is already gone, sends it now."""
    _prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signum))
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signum)


def exit_with_supervisor() -> None:
    """Called first in every service's main(): under supervisord the service gets SIGTERM (its ordinary stop)
    when supervisord dies, even by kill -9. Outside supervisord (a service started by hand) it does nothing."""
    if "SUPERVISOR_ENABLED" not in os.environ:
        return
    supervisor = os.environ.get(SUPERVISOR_PID_VARIABLE)
    die_with_parent(signal.SIGTERM, int(supervisor) if supervisor else None)


def become_subreaper() -> None:
    """Orphaned descendants of this process (e.g. children of a dead helper) become its children, so it can
    learn their end and reap them, instead of going to init."""
    _prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1))


def set_process_name(name: str) -> None:
    """The name ps, top and /proc/PID/comm show (15 bytes at most), set from the main thread."""
    _prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))
