"""Shared helpers of the benchmarks: generated media, tables, statistics, /proc readings, warm-process detection.

Everything runs on loopback against generated media; synchronisation is always polling with a deadline.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tests.media import MediaServer, generate_media
from tests.stack import (APP_DIR, PYTHON, Stack, descendants, parent_pid, service_env, wait_for,
                         ytdlp_processes)

YTDLP = APP_DIR / ".venv" / "bin" / "yt-dlp"
MEDIA_DIR = Path(os.environ.get("PRT_BENCH_MEDIA", "/tmp/prt-bench-media"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

__all__ = ["APP_DIR", "PYTHON", "Stack", "MediaServer", "wait_for", "ytdlp_processes", "parent_pid", "YTDLP",
           "MEDIA_DIR", "ensure_media", "Table", "median", "percentile", "rss_kb", "cpu_seconds",
           "descendants", "is_waiting_on_stdin", "wait_warm_spares", "poll_until", "fmt_ms",
           "fmt_s", "machine_description", "run_direct_ytdlp", "service_env"]


# --- media ------------------------------------------------------------------------------------------------

def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *arguments], check=True)


def _cbr_clip(target: Path, seconds: int) -> None:
    """A constant-bitrate 8 Mbit/s 320x240 clip: `seconds` seconds make about seconds MB."""
    if target.exists():
        return
    tmp = target.with_suffix(".tmp.mp4")
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=25",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-b:v", "8M", "-minrate", "8M", "-maxrate", "8M", "-bufsize", "8M", "-x264-params", "nal-hrd=cbr",
            "-c:a", "aac", "-shortest", str(tmp))
    tmp.rename(target)


def ensure_media() -> Path:
    """MEDIA_DIR (cached between runs): the tests' small media plus cbr4.mp4 (~4 MB), cbr20.mp4 (~20 MB),
    hls4/index.m3u8 (the 4 MB clip as 1 s HLS segments) and big200.bin (200 MB of random bytes)."""
    generate_media(MEDIA_DIR)
    _cbr_clip(MEDIA_DIR / "cbr4.mp4", 4)
    _cbr_clip(MEDIA_DIR / "cbr20.mp4", 20)
    hls = MEDIA_DIR / "hls4"
    if not (hls / "index.m3u8").exists():
        hls.mkdir(exist_ok=True)
        _ffmpeg("-i", str(MEDIA_DIR / "cbr4.mp4"), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                "-b:v", "8M", "-minrate", "8M", "-maxrate", "8M", "-bufsize", "8M", "-x264-params",
                "nal-hrd=cbr", "-c:a", "aac", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", str(hls / "index.m3u8"))
    big = MEDIA_DIR / "big200.bin"
    if not big.exists() or big.stat().st_size != 200 * 1024 * 1024:
        with open(big.with_suffix(".tmp"), "wb") as out:
            for _ in range(200):
                out.write(os.urandom(1024 * 1024))
        big.with_suffix(".tmp").rename(big)
    return MEDIA_DIR


# --- statistics and tables -------------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def fmt_ms(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def fmt_s(seconds: float | None) -> str:
    return "-" if seconds is None or seconds != seconds else f"{seconds:.2f} s"


class Table:
    """A Markdown table with a title and notes, printed to stdout as soon as it is complete."""

    def __init__(self, title: str, headers: Sequence[str], notes: Iterable[str] = ()):
        self.title, self.headers, self.rows, self.notes = title, list(headers), [], list(notes)

    def add(self, *cells: Any) -> None:
        self.rows.append([str(cell) for cell in cells])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                  for i, h in enumerate(self.headers)]
        line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
        out = [f"### {self.title}", "", line(self.headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(row) for row in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"

    def print(self) -> "Table":
        print(self.render(), flush=True)
        return self


# --- /proc ---------------------------------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str]:
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def rss_kb(pid: int) -> int:
    """Resident set size in KiB (VmRSS), 0 when the process is gone."""
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size in KiB (shared pages divided among sharers), 0 when unavailable."""
    try:
        for line in (Path("/proc") / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def is_waiting_on_stdin(pid: int) -> bool:
    """True when the process's main thread is blocked in read(0, ...): a warm yt-dlp process that is ready."""
    try:
        return (Path("/proc") / str(pid) / "syscall").read_text().split()[:2] == ["0", "0x0"]
    except OSError:
        return False


def configured_spares() -> int:
    """WARMPROCESSES of the stacks the benchmarks start: the environment's, else the default."""
    from common.config import setting_fields

    return int(os.environ.get("PRT_VIDEODOWNLOADER_WARMPROCESSES", setting_fields()["WARMPROCESSES"][0]))


def wait_warm_spares(stack: Stack, count: int | None = None, timeout: float = 60) -> list[int]:
    """Waits until the runner has `count` (default: configured_spares()) spare yt-dlp processes (forked from
    its zygote) blocked on stdin."""
    runner = stack.pid("runner")
    count = configured_spares() if count is None else count

    def ready():
        pids = [pid for pid in ytdlp_processes(runner) if is_waiting_on_stdin(pid)]
        return pids if len(pids) >= count else None
    return wait_for(ready, timeout=timeout, interval=0.02, message=f"{count} warm yt-dlp spares")


def poll_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01,
               message: str = "condition") -> Any:
    return wait_for(predicate, timeout=timeout, interval=interval, message=message)


# --- yt-dlp outside the service ---------------------------------------------------------------------------

def run_direct_ytdlp(url: str, folder: Path, *extra: str) -> float:
    """Wall time of a fresh `yt-dlp --ignore-config -o ... URL` process (what a user would run by hand)."""
    start = time.monotonic()
    subprocess.run([str(YTDLP), "--ignore-config", "-q", "--no-progress", *extra, "-o",
                    str(folder / "%(id)s-%(epoch)s.%(ext)s"), url],
                   check=True, stdout=subprocess.DEVNULL, cwd=folder)
    return time.monotonic() - start


# --- the machine -------------------------------------------------------------------------------------------

def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return (result.stdout or result.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_description() -> Table:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    table = Table("Machine", ["Item", "Value"])
    table.add("CPU", cpu)
    table.add("Cores (os.cpu_count)", os.cpu_count())
    table.add("RAM", f"{mem_kb / 1024 / 1024:.1f} GiB")
    table.add("Kernel", platform.release())
    table.add("OS", _first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]))
    table.add("Python", sys.version.split()[0])
    table.add("yt-dlp", _first_line([str(YTDLP), "--version"]))
    table.add("nginx", _first_line(["/usr/sbin/nginx", "-v"]))
    table.add("ffmpeg", _first_line(["ffmpeg", "-version"]))
    table.add("SQLite", _first_line([str(PYTHON), "-c", "import sqlite3; print(sqlite3.sqlite_version)"]))
    table.add("wrk", _first_line(["sh", "-c", "wrk -v 2>&1 | head -1"]))
    return table


def temp_folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)


class LogFollower:
    """Timestamps the stack's log lines as supervisord writes them (the lines carry no timestamps)."""

    def __init__(self, path: Path):
        import threading
        self.path, self.lines, self._stop = path, [], threading.Event()
        self._file = open(path, "r", errors="replace")
        self._file.seek(0, os.SEEK_END)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        partial = ""
        while not self._stop.is_set():
            chunk = self._file.read()
            if chunk:
                now = time.monotonic()
                partial += chunk
                *complete, partial = partial.split("\n")
                self.lines.extend((now, line) for line in complete)
            else:
                self._stop.wait(0.002)  # polling interval of the follower, not synchronisation

    def first(self, *needles: str, after: float = 0.0) -> float | None:
        for moment, line in list(self.lines):
            if moment >= after and all(needle in line for needle in needles):
                return moment
        return None

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._file.close()


def stop_stacks_on_sigterm() -> None:
    """SIGTERM (e.g. `kill <pid>` of a benchmark) raises SystemExit, so `with Stack()` blocks stop their stacks."""
    import signal

    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


class ForeignLoad:
    """Samples, every 0.5 s, the CPU used by processes that are not this benchmark or its children (the lead's
    test runs, other stacks): the machine is shared, so every table says how busy it was meanwhile."""

    def __init__(self):
        import threading
        self.me = os.getpid()
        self.foreign_seconds = 0.0
        self.started = time.monotonic()
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        parents, cpu = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            cpu[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK

        def mine(pid: int) -> bool:
            seen = 0
            while pid > 1 and seen < 64:
                if pid == self.me:
                    return True
                pid, seen = parents.get(pid, 0), seen + 1
            return False
        for pid, seconds in cpu.items():
            if pid in self._last and not mine(pid) and pid != self.me:
                self.foreign_seconds += max(0.0, seconds - self._last[pid])
        self._last = cpu

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def stop(self) -> float:
        """Average CPU, in % of one core, that other processes used since the start."""
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.foreign_seconds / max(1e-9, time.monotonic() - self.started) * 100


def wait_for_quiet_machine(limit_percent: float = 15.0, timeout: float = 180.0) -> float:
    """Polls (2 s windows) until other processes use less than limit_percent of a core; returns the last value.
    Gives up at the deadline and lets the benchmark run anyway (the table then says how busy it was)."""
    deadline = time.monotonic() + timeout
    while True:
        probe = ForeignLoad()
        probe._stop.wait(2.0)  # the measurement window of the probe
        load = probe.stop()
        if load < limit_percent or time.monotonic() > deadline:
            return load


def bench_main(run: Callable[[bool], Any], description: str) -> None:
    """The command line of one benchmark module: `python -m bench.<name> [--quick]`."""
    import argparse

    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    stop_stacks_on_sigterm()
    run(parser.parse_args().quick)
