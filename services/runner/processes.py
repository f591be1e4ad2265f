"""The runner's yt-dlp processes: forked by the zygote (services.runner.zygote) on request, a few of them
ahead of need, and killed with their process group."""
from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from services.runner.zygote import CONTROL_FD_VARIABLE as ZYGOTE_FD_VARIABLE

log = logging.getLogger("runner")


class ForkedProcess:
    """A yt-dlp process forked by the zygote, with the parts of Popen that the runner uses."""

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int, stderr_fd: int):
        self.pid = pid
        self.stdin = open(stdin_fd, "w", buffering=1)
        self.stdout = open(stdout_fd, "rb", buffering=0)
        self.stderr = open(stderr_fd, "rb", buffering=0)
        self.returncode: int | None = None
        self._ended = threading.Event()

    def ended(self, returncode: int) -> None:
        self.returncode = returncode
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float = 30) -> int:
        if not self._ended.wait(timeout):
            kill_group(self)
            self._ended.wait(5)
        return self.returncode if self.returncode is not None else -signal.SIGKILL

    def close(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass


class Zygote:
    """The runner's side of services.runner.zygote: asks it to fork, learns pids and exit codes."""

    def __init__(self):
        self._fork_lock = threading.Lock()
        self._registry_lock = threading.Lock()
        self._processes: dict[int, ForkedProcess] = {}
        self._early_exits: dict[int, int] = {}
        self._pids: queue.Queue[int] = queue.Queue()
        self._ready = threading.Event()
        self.popen: subprocess.Popen | None = None
        self.control: socket.socket | None = None

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._ready.clear()
        self.popen = subprocess.Popen(
            [sys.executable, "-u", "-m", "services.runner.zygote"], pass_fds=(theirs.fileno(),),
            start_new_session=True, cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, ZYGOTE_FD_VARIABLE: str(theirs.fileno())})
        theirs.close()
        self.control = ours
        threading.Thread(target=self._read_events, args=(ours,), name="zygote-events", daemon=True).start()

    def _read_events(self, control: socket.socket) -> None:
        while True:
            try:
                message = control.recv(128).decode()
            except OSError:
                message = ""
            if not message:
                break
            kind, *values = message.split()
            if kind == "ready":
                self._ready.set()
            elif kind == "pid":
                self._pids.put(int(values[0]))
            elif kind == "exit":
                pid, code = int(values[0]), int(values[1])
                with self._registry_lock:
                    process = self._processes.pop(pid, None)
                    if process is None:
                        self._early_exits[pid] = code
                if process is not None:
                    process.ended(code)
        log.warning("the yt-dlp zygote stopped; it is restarted at the next download")
        with self._registry_lock:
            orphans, self._processes = list(self._processes.values()), {}
        for process in orphans:  # they kill themselves when the zygote is gone
            process.ended(-signal.SIGKILL)
        if self.control is control:
            self.control = None

    def fork(self) -> ForkedProcess:
        with self._fork_lock:
            if self.control is None:
                self.start()
            if not self._ready.wait(120):
                raise RuntimeError("the yt-dlp zygote did not get ready")
            stdin_r, stdin_w = os.pipe()
            stdout_r, stdout_w = os.pipe()
            stderr_r, stderr_w = os.pipe()
            try:
                socket.send_fds(self.control, [b"fork"], [stdin_r, stdout_w, stderr_w])
                pid = self._pids.get(timeout=30)
            finally:
                for fd in (stdin_r, stdout_w, stderr_w):
                    os.close(fd)
            process = ForkedProcess(pid, stdin_w, stdout_r, stderr_r)
            with self._registry_lock:
                code = self._early_exits.pop(pid, None)
                if code is None:
                    self._processes[pid] = process
            if code is not None:
                process.ended(code)
            return process

    def stop(self) -> None:
        with self._registry_lock:
            processes = list(self._processes.values())
        for process in processes:
            kill_group(process)
        if self.popen is not None:
            self.popen.kill()


class SparePool:
    """yt-dlp processes forked ahead of need from the zygote, each waiting on stdin for one argument list."""

    def __init__(self, size: int):
        self.size = size
        self.zygote = Zygote()
        self._spares: list[ForkedProcess] = []
        self._lock = threading.Lock()

    def top_up(self) -> None:
        with self._lock:
            self._spares = [p for p in self._spares if p.poll() is None]
            while len(self._spares) < self.size:
                self._spares.append(self.zygote.fork())

    def take(self) -> ForkedProcess:
        """A spare if there is one, else a fork made now (a few milliseconds once the zygote is warm)."""
        with self._lock:
            while self._spares:
                process = self._spares.pop(0)
                if process.poll() is None:
                    return process
        return self.zygote.fork()

    def forget(self, process: ForkedProcess) -> None:
        process.close()

    def kill_all(self) -> None:
        self.zygote.stop()


def kill_group(process) -> None:
    """Kills a yt-dlp process with its children: its own process group, or the process alone if it has not
    made its group yet."""
    for kill in (os.killpg, os.kill):
        try:
            kill(process.pid, signal.SIGKILL)
            return
        except ProcessLookupError:
            continue


STOP_GRACE_SECONDS = 3.0


def stop_group(process: ForkedProcess, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stops a yt-dlp process group gracefully: SIGTERM first, so that ffmpeg can finalise or clean up its
    output, then SIGKILL for whatever is still there after the grace period."""
    for signal_group in (os.killpg, os.kill):
        try:
            signal_group(process.pid, signal.SIGTERM)
            break
        except ProcessLookupError:
            continue
    process.wait(timeout=grace)  # kills the group itself when the grace period ends
    kill_group(process)  # children that outlived their yt-dlp
