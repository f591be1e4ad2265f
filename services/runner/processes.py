"""The runner's yt-dlp processes: forked by the zygote (services.runner.zygote) on request, a few of them
ahead of need, and killed with their process group.

The runner is a child subreaper and the parent of every yt-dlp process (the zygote forks them through a
helper that exits), so it reaps them and reads their exit status itself, whether or not the zygote is alive.
A keeper thread restarts the zygote as soon as it dies, keeps the spares topped up, and reaps what a dead
zygote left behind.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from services.runner.zygote import CONTROL_FD_VARIABLE, RUNNER_PIDFD_VARIABLE

log = logging.getLogger("runner")

KEEPER_INTERVAL_SECONDS = 1.0
ZYGOTE_START_ATTEMPTS = 3  # a selected yt-dlp environment whose zygote dies this often before ready is left
FORK_PATIENCE_SECONDS = 60


class ZygoteGone(RuntimeError):
    pass


class ForkedProcess:
    """A yt-dlp process forked by the zygote and adopted by the runner, with the parts of Popen the runner uses."""

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int, stderr_fd: int):
        self.pid = pid
        self.stdin = open(stdin_fd, "w", buffering=1)
        self.stdout = open(stdout_fd, "rb", buffering=0)
        self.stderr = open(stderr_fd, "rb", buffering=0)
        self.returncode: int | None = None
        self.stopped_by_runner = False
        self.ytdlp_version: str | None = None  # of the zygote it was forked from
        self.generation = 0  # Zygote.generation when it was forked
        self._lock = threading.Lock()
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd, self.returncode = None, -signal.SIGKILL

    def _ended(self) -> bool | None:
        """True once it has ended (not reaped yet: its pid and process group are still its own), False while
        it runs, None if it is not this runner's child (reaped elsewhere): its pid may name another process."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return None

    def poll(self) -> int | None:
        """Its exit code (negative: the signal that killed it) once it has ended, else None; reaps it and
        kills what is left of its process group (ffmpeg children)."""
        with self._lock:
            if self.returncode is None:
                ended = self._ended()
                if ended is None:  # its status is lost
                    self.returncode = -signal.SIGKILL
                elif ended:
                    _signal_group(self.pid, signal.SIGKILL)
                    self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            return self.returncode

    def wait(self, timeout: float = 30) -> int:
        """Waits for its end; after timeout the runner kills it."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill_group()
                deadline = time.monotonic() + 5
                continue
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], remaining)
            else:
                time.sleep(0.05)
        return self.returncode

    def kill_group(self) -> None:
        self.signal_group(signal.SIGKILL)

    def signal_group(self, signum: int) -> None:
        """Signals it with its children as the runner's own decision (cancel, stall, shutdown): a death by a
        signal is an infrastructure failure only when the runner sent none (stopped_by_runner)."""
        with self._lock:
            if self.returncode is None and self._ended() is False:
                self.stopped_by_runner = True
                _signal_group(self.pid, signum)

    def close(self) -> None:
        for stream in (self.stdin, self.stdout, self.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


class Zygote:
    """The runner's side of services.runner.zygote: starts it, asks it to fork, learns the pids."""

    def __init__(self, python: str = sys.executable):
        self.python = python  # the interpreter of the selected yt-dlp environment (services.runner.ytdlp_update)
        self._fork_lock = threading.Lock()
        self._ready = threading.Event()
        self._pids: queue.Queue[int | None] = queue.Queue()
        self.gone = threading.Event()
        self.popen: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.runner_pidfd = os.pidfd_open(os.getpid())
        self.ytdlp: dict | None = None  # what the current zygote's yt-dlp reported when it got ready
        self.generation = 0  # counts switches of yt-dlp environment
        self.failed_starts = 0  # zygotes in a row that exited before they were ready

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._ready.clear()
        self.gone.clear()
        self._pids = pids = queue.Queue()
        self.popen = popen = subprocess.Popen(
            [self.python, "-u", "-m", "services.runner.zygote"], pass_fds=(theirs.fileno(), self.runner_pidfd),
            start_new_session=True, cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, CONTROL_FD_VARIABLE: str(theirs.fileno()),
                 RUNNER_PIDFD_VARIABLE: str(self.runner_pidfd)})
        theirs.close()
        self.control = ours
        threading.Thread(target=self._read_events, args=(ours, popen, pids), name="zygote-events",
                         daemon=True).start()

    def _read_events(self, control: socket.socket, popen: subprocess.Popen, pids: queue.Queue) -> None:
        ready = False
        while True:
            try:
                message = control.recv(4096).decode()
            except OSError:
                message = ""
            if not message:
                break
            kind, _, rest = message.partition(" ")
            values = rest.split()
            if kind == "ready":
                self.ytdlp = json.loads(rest) if rest else None
                ready, self.failed_starts = True, 0
                self._ready.set()
            elif kind == "pid":
                pids.put(int(values[0]))
        current = self.control is control
        if current:
            self.control = None
            self.failed_starts += 0 if ready else 1
            self._ready.set()  # a fork waiting for this zygote fails now and tries the next one
        pids.put(None)
        control.close()
        code = popen.wait()
        if current:
            log.warning("the yt-dlp zygote stopped (exit code %d); its yt-dlp processes go on, a new one starts",
                        code)
            self.gone.set()

    def fork(self) -> ForkedProcess:
        """A new yt-dlp process; the zygote is (re)started when needed, for FORK_PATIENCE_SECONDS at most."""
        deadline = time.monotonic() + FORK_PATIENCE_SECONDS
        while True:
            try:
                return self._fork_once()
            except ZygoteGone:
                if time.monotonic() > deadline:
                    raise
                log.warning("the yt-dlp zygote died during a fork; trying again")

    def ensure_started(self) -> None:
        with self._fork_lock:
            if self.control is None:
                self.start()

    def _fork_once(self) -> ForkedProcess:
        with self._fork_lock:
            if self.control is None:
                self.start()
            control, pids = self.control, self._pids
            if control is None:
                raise ZygoteGone("the yt-dlp zygote stopped at once")
            if not self._ready.wait(120):
                raise RuntimeError("the yt-dlp zygote did not get ready")
            stdin_r, stdin_w = os.pipe()
            stdout_r, stdout_w = os.pipe()
            stderr_r, stderr_w = os.pipe()
            try:
                socket.send_fds(control, [b"fork"], [stdin_r, stdout_w, stderr_w])
                pid = pids.get(timeout=30)
            except (OSError, queue.Empty):
                pid = None
            finally:
                for fd in (stdin_r, stdout_w, stderr_w):
                    os.close(fd)
            if pid is None:
                for fd in (stdin_w, stdout_r, stderr_r):
                    os.close(fd)
                raise ZygoteGone("the yt-dlp zygote stopped before answering")
            process = ForkedProcess(pid, stdin_w, stdout_r, stderr_r)
            process.ytdlp_version = (self.ytdlp or {}).get("version")
            process.generation = self.generation
            return process

    def switch_to(self, python: str) -> None:
        """Between two forks: the current zygote is told to exit (its yt-dlp processes go on with their
        version), and the next fork starts a zygote with `python`."""
        with self._fork_lock:
            self.python, control, self.control, self.ytdlp = python, self.control, None, None
            self.generation += 1
            if control is not None:  # the zygote's serve() ends; its events thread sees it is no longer current
                try:
                    control.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.popen is not None:
            self.popen.kill()


class SparePool:
    """yt-dlp processes forked ahead of need from the zygote, each waiting on stdin for one argument list."""

    def __init__(self, size: int, selected_python: Callable[[], str] = lambda: sys.executable,
                 idle_seconds: float = 0.0):
        self.size = size
        self.idle_seconds = idle_seconds  # spares are stopped after this long without a download (0: never)
        self._last_busy = time.monotonic()
        self.resting = False
        self.selected_python = selected_python
        self.zygote = Zygote(selected_python())
        self._spares: list[ForkedProcess] = []
        self._lock = threading.Lock()
        self._owned: dict[int, ForkedProcess] = {}  # handed out to jobs and not yet forgotten
        self._stopping = threading.Event()
        self.refused: dict[str, str] = {}  # environments whose zygote never got ready: why

    def top_up(self) -> None:
        """Forks the missing spares; or, once no download has started or run for idle_seconds, stops them."""
        with self._lock:
            for process in self._spares:
                if process.poll() is not None:
                    process.close()
            self._spares = [p for p in self._spares if p.returncode is None]
            now = time.monotonic()
            if self._owned:
                self._last_busy = now
            resting = bool(self.idle_seconds) and now - self._last_busy >= self.idle_seconds
            retired, self._spares = (self._spares, []) if resting else ([], self._spares)
            missing = 0 if resting else self.size - len(self._spares)
        if resting != self.resting:
            self.resting = resting
            if resting:
                log.info("no download for %g s: the spare yt-dlp processes (%d) are stopped until the next download",
                         self.idle_seconds, len(retired))
        for process in retired:
            _discard(process)
        for _ in range(missing):
            process = self.zygote.fork()
            with self._lock:
                if process.generation == self.zygote.generation:
                    self._spares.append(process)
                    continue
            _discard(process)  # forked by the zygote of the environment just switched away from

    def take(self) -> ForkedProcess:
        """A spare if there is one, else a fork made now (a few milliseconds once the zygote is warm)."""
        with self._lock:
            self._last_busy = time.monotonic()
            while self._spares:
                process = self._spares.pop(0)
                if process.poll() is None:
                    self._owned[process.pid] = process
                    return process
                process.close()
        process = self.zygote.fork()
        with self._lock:
            self._owned[process.pid] = process
        return process

    def switch_to(self, python: str) -> None:
        """New downloads start on another yt-dlp environment; running ones finish on theirs. The idle spares
        of the old one are stopped (no job has reached them)."""
        with self._lock:
            self.zygote.switch_to(python)
            spares, self._spares = self._spares, []
        for process in spares:
            _discard(process)
        log.info("yt-dlp environment switched to %s: running downloads finish on the previous one", python)

    def forget(self, process: ForkedProcess) -> None:
        process.close()
        with self._lock:
            self._owned.pop(process.pid, None)
            self._last_busy = time.monotonic()

    def keep(self) -> None:
        """Starts the keeper thread: the zygote restarted at once after its death, spares refilled, and
        children that no one waits for (helpers or yt-dlp processes a dead zygote left behind, ffmpeg
        processes of a killed group) reaped."""
        threading.Thread(target=self._keep, name="spare-keeper", daemon=True).start()

    def _keep(self) -> None:
        strays: set[int] = set()
        while not self._stopping.is_set():
            try:
                self._give_up_on_a_zygote_that_never_starts()
                python = self.selected_python()
                python = sys.executable if python in self.refused else python
                if python != self.zygote.python:
                    self.switch_to(python)
                self.zygote.ensure_started()
                self.top_up()
            except Exception as error:  # the zygote died while forking: the next round starts a new one
                log.warning("spare yt-dlp processes not topped up: %s", error)
            strays = self._reap_strays(strays)
            self.zygote.gone.wait(KEEPER_INTERVAL_SECONDS)

    def _give_up_on_a_zygote_that_never_starts(self) -> None:
        """A selected yt-dlp environment that passed its smoke test but whose zygote now dies before it is
        ready (files changed or removed since) is left for the service's own one, so downloads go on."""
        python = self.zygote.python
        if python != sys.executable and self.zygote.failed_starts >= ZYGOTE_START_ATTEMPTS:
            self.refused[python] = (f"the selected yt-dlp environment {Path(python).parent.parent.name} did not start "
                                    f"{ZYGOTE_START_ATTEMPTS} times in a row; the service's own yt-dlp is used")
            log.error("yt-dlp environment %s: %s", python, self.refused[python])
            self.zygote.failed_starts = 0
            self.switch_to(sys.executable)

    def _reap_strays(self, seen_before: set[int]) -> set[int]:
        """Reaps ended children that are neither spares nor handed out nor the zygote, when they were
        already such strays at the previous round (a fresh fork is registered within milliseconds)."""
        with self._lock:
            known = set(self._owned) | {p.pid for p in self._spares}
        if self.zygote.popen is not None:
            known.add(self.zygote.popen.pid)
        strays = set()
        for pid in _children():
            if pid in known or not _is_zombie(pid):
                continue
            if pid in seen_before:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            else:
                strays.add(pid)
        return strays

    def kill_all(self) -> None:
        self._stopping.set()
        with self._lock:
            processes, self._spares = [*self._spares, *self._owned.values()], []
        for process in processes:
            process.kill_group()
        self.zygote.stop()


def _discard(process: ForkedProcess) -> None:
    process.kill_group()
    process.poll()
    process.close()


def kill_group(process: ForkedProcess) -> None:
    process.kill_group()


def _signal_group(pid: int, signum: int) -> None:
    """Signals a yt-dlp process's own process group, or the process alone if it has not made its group yet."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signum)
            return
        except ProcessLookupError:
            continue


def _children() -> list[int]:
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(pid) for pid in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


STOP_GRACE_SECONDS = 3.0


def stop_group(process: ForkedProcess, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stops a yt-dlp process group gracefully: SIGTERM first, so that ffmpeg can finalise or clean up its
    output, then SIGKILL for whatever is still there after the grace period."""
    process.signal_group(signal.SIGTERM)
    process.wait(timeout=grace)  # kills the group itself when the grace period ends
    kill_group(process)  # children that outlived their yt-dlp
