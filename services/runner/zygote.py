"""The zygote: one process that warms yt-dlp up once and forks a ready yt-dlp process per download.

Warming yt-dlp costs about one CPU-second (imports, ~1,900 extractor patterns, option parsing); a fork of a
warm process costs a few milliseconds and shares its memory. The runner starts the zygote with subprocess
and talks to it over a SOCK_SEQPACKET socket (its fd number in PRT_RUNNER_ZYGOTE_FD):

- runner → zygote: b"fork" with three file descriptors (the child's stdin, stdout, stderr);
- zygote → runner: b"ready <json>" once warm, with the yt-dlp version and JS runtimes it found
  (describe_ytdlp), then b"pid <pid>" for each fork, once the child's parent is the runner.

Between forks it answers the API's parameter checks (services.runner.parameter_checks).

Each yt-dlp process is forked twice (the zygote forks a helper that forks it and exits at once): its parent
is then the runner, a child subreaper, and not the zygote. So the zygote can die (OOM killer, kill -9)
without taking running downloads with it, and the runner reaps its yt-dlp processes and reads their exit
status itself. The runner passes a pidfd of itself (fd number in PRT_RUNNER_PIDFD): the zygote exits, and
each yt-dlp process kills its process group (itself, ffmpeg children), as soon as the runner has died.

Each yt-dlp process starts its own session (so the runner can kill it with its ffmpeg children as one
process group) and then behaves exactly like a warm yt-dlp process (warm_ytdlp.serve_one_job).
"""
from __future__ import annotations

import gc
import json
import os
import select
import socket
import sys
import threading

from common.config import load_settings
from common.lifecycle import set_process_name
from common.ytdlp import load_parameter_parser
from services.runner import warm_ytdlp
from services.runner.parameter_checks import ParameterCheckServer, start_server

CONTROL_FD_VARIABLE = "PRT_RUNNER_ZYGOTE_FD"
RUNNER_PIDFD_VARIABLE = "PRT_RUNNER_PIDFD"
ZYGOTE_NAME, FORK_HELPER_NAME, YTDLP_NAME = "prt-zygote", "prt-fork", "prt-yt-dlp"


def _ytdlp_process(control: socket.socket, runner_pidfd: int, fds: list[int], blocked,
                   checks: ParameterCheckServer | None) -> None:
    """In the forked yt-dlp process: a session leader with the given stdio that serves one job."""
    try:
        os.setsid()
        set_process_name(YTDLP_NAME)
        control.close()
        if checks is not None:
            checks.close_in_child()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        warm_ytdlp.kill_group_when_gone(runner_pidfd)
        warm_ytdlp.serve_one_job(blocked)
    finally:
        os._exit(70)  # serve_one_job exits by itself; reaching here means it raised


def fork_ytdlp(control: socket.socket, runner_pidfd: int, fds: list[int], blocked,
               checks: ParameterCheckServer | None = None) -> int:
    """Forks a yt-dlp process through a helper that exits at once, so that the runner adopts it; returns its
    pid once the helper is gone (the runner is its parent by then)."""
    pid_read, pid_write = os.pipe()
    helper = os.fork()
    if helper == 0:
        try:
            set_process_name(FORK_HELPER_NAME)
            os.close(pid_read)
            child = os.fork()
            if child == 0:
                os.close(pid_write)
                _ytdlp_process(control, runner_pidfd, fds, blocked, checks)
            os.write(pid_write, str(child).encode())
        finally:
            os._exit(0)
    os.close(pid_write)
    with open(pid_read, "rb") as answer:
        pid = answer.read()
    os.waitpid(helper, 0)
    return int(pid)


def serve(control: socket.socket, runner_pidfd: int, blocked, checks: ParameterCheckServer | None = None) -> None:
    while True:
        readable, _, _ = select.select([control, *(checks.sockets() if checks else ())], [], [])
        for ready in readable:
            if ready is not control:
                checks.handle(ready)
                continue
            message, fds, _, _ = socket.recv_fds(control, 64, 3)
            if not message:
                return  # the runner closed its end
            try:
                if message == b"fork" and len(fds) == 3:
                    control.send(f"pid {fork_ytdlp(control, runner_pidfd, fds, blocked, checks)}".encode())
            finally:
                for fd in fds:
                    os.close(fd)


def describe_ytdlp() -> dict:
    """The version of the yt-dlp this process imported and the JS runtimes it finds (as `yt-dlp -v` lists them),
    so that /api/health reports what the yt-dlp processes really use, not what the API process would find."""
    import yt_dlp

    with yt_dlp.YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        runtimes = sorted(f"{runtime.info.name} {runtime.info.version}".strip()
                          for runtime in ydl._js_runtimes.values()
                          if runtime is not None and runtime.info is not None and runtime.info.supported is not False)
    return {"version": yt_dlp.version.__version__, "jsRuntimes": runtimes}


def _exit_when_gone(pidfd: int) -> None:
    select.select([pidfd], [], [])
    os._exit(0)


def main() -> None:
    set_process_name(ZYGOTE_NAME)
    runner_pidfd = int(os.environ.pop(RUNNER_PIDFD_VARIABLE))
    threading.Thread(target=_exit_when_gone, args=(runner_pidfd,), name="runner-watch", daemon=True).start()
    control = socket.socket(fileno=int(os.environ.pop(CONTROL_FD_VARIABLE)))
    blocked = warm_ytdlp.warm_settings()
    load_parameter_parser()
    # The warm heap goes to the GC's permanent generation: collections in the children then leave its pages
    # alone instead of copying them on write.
    gc.collect()
    gc.freeze()
    control.send(b"ready " + json.dumps(describe_ytdlp()).encode())
    checks = start_server(load_settings().RUNPATH)
    try:
        serve(control, runner_pidfd, blocked, checks)
    finally:
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
