"""Chaos on the real stack: while throttled downloads run, a random process of the stack is killed with
SIGKILL every few seconds; afterwards nothing may be lost. Used by tests/test_chaos.py and `python -m bench.chaos`.

Victims are found in the process tree of the stack's own supervisord (never by name alone): its children
running `-m services.<name>`, and below the runner the zygote (named prt-zygote) and the yt-dlp processes
that run a download (yt-dlp names itself yt-dlp; spares waiting for a job are named prt-yt-dlp).
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.stack import ZYGOTE_PROCESS_NAME, Stack, descendants, process_table, wait_for

SERVICES = ("runner", "scheduler", "dbwriter", "api")  # the publisher runs in the scheduler's process
VICTIM_KINDS = (*SERVICES, "zygote", "yt-dlp")
FINAL = ("COMPLETED", "FAILED", "CANCELLED")


@dataclass
class ChaosResult:
    downloads: int
    chaos_seconds: float
    settle_seconds: float
    max_attempts: int
    kills: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    bad_files: list[str] = field(default_factory=list)  # a COMPLETED row whose file is missing or not whole
    strays: list[str] = field(default_factory=list)  # files in the data folder that no COMPLETED row owns
    unfinished: list[str] = field(default_factory=list)  # rows left PENDING or DOWNLOADING

    @property
    def over_limit(self) -> int:
        return sum(count for attempts, count in self.attempts.items() if attempts > self.max_attempts)


def victims(stack: Stack) -> dict[str, list[int]]:
    """This stack's processes that the chaos may kill, by kind."""
    supervisor = stack.process.pid
    table = process_table()
    found: dict[str, list[int]] = {kind: [] for kind in VICTIM_KINDS}
    for pid in descendants(supervisor):
        parent, name, _ = table.get(pid, (None, "", ""))
        if parent == supervisor:
            kind = _service_of(pid)
        elif name == ZYGOTE_PROCESS_NAME:
            kind = "zygote"
        elif name == "yt-dlp":
            kind = "yt-dlp"
        else:
            continue
        if kind in found:
            found[kind].append(pid)
    return found


def _service_of(pid: int) -> str | None:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    module = next((value for option, value in zip(arguments, arguments[1:]) if option == "-m"), "")
    return module.removeprefix("services.") if module.startswith("services.") else None


def rows(stack: Stack) -> dict[str, tuple[str, int, str | None, str | None]]:
    """uuid: (status, attempts, file name, error) of every row, read from the database file itself."""
    with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True, timeout=10) as connection:
        return {uuid: (status, attempts, file_name, error) for uuid, status, attempts, file_name, error in
                connection.execute("SELECT uuid, status, attempts, fileName, errorMessage FROM downloads")}


def all_final(stack: Stack, uuids: list[str]) -> bool:
    try:
        known = rows(stack)
    except sqlite3.Error:
        return False
    return all(uuid in known and known[uuid][0] in FINAL for uuid in uuids)


def run_chaos(stack: Stack, video_url: str, source: Path, downloads: int, duration: float, max_attempts: int,
              rng: random.Random, pause: tuple[float, float] = (2.0, 5.0), settle_timeout: float = 300,
              kinds: tuple[str, ...] = VICTIM_KINDS, report=lambda line: None) -> ChaosResult:
    """Starts `downloads` downloads of video_url (each made distinct by a query), kills a random victim
    every `pause` seconds for `duration` seconds or until all are final, waits for all to be final, and
    checks the outcome against source (the served file). Each round of kills takes every kind of victim (of
    `kinds`) once, in random order, skipping a kind that has no process at that moment."""
    uuids = [stack.start_download(f"{video_url}?chaos={n}") for n in range(downloads)]
    result = ChaosResult(downloads=downloads, chaos_seconds=0.0, settle_seconds=0.0, max_attempts=max_attempts)
    started = time.monotonic()
    bag: list[str] = []  # kinds are drawn without replacement, so that every kind is hit in each round
    while time.monotonic() - started < duration and not all_final(stack, uuids):
        time.sleep(rng.uniform(*pause))  # the pace of the chaos, not a synchronisation
        candidates = {kind: pids for kind, pids in victims(stack).items() if pids and kind in kinds}
        if not bag:
            bag = rng.sample(kinds, len(kinds))
        if not candidates:
            continue
        kind = next((kind for kind in bag if kind in candidates), None) or rng.choice(sorted(candidates))
        if kind in bag:
            bag.remove(kind)
        pid = rng.choice(candidates[kind])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        result.kills[kind] += 1
        report(f"{time.monotonic() - started:5.1f} s: kill -9 {kind} (pid {pid})")
    result.chaos_seconds = time.monotonic() - started
    wait_for(lambda: all_final(stack, uuids), timeout=settle_timeout, interval=0.5,
             message="every download to reach a final state after the chaos")
    result.settle_seconds = time.monotonic() - started - result.chaos_seconds
    _check(stack, uuids, source, result)
    return result


def _check(stack: Stack, uuids: list[str], source: Path, result: ChaosResult) -> None:
    known = rows(stack)
    original = source.read_bytes()
    owned = set()
    for uuid in uuids:
        status, attempts, file_name, error = known[uuid]
        result.statuses[status] += 1
        result.attempts[attempts] += 1
        if status != "COMPLETED":
            result.errors.append(f"{uuid} {status}: {error}")
            continue
        owned.add(file_name)
        path = stack.data / (file_name or "")
        if not path.is_file() or path.read_bytes() != original:
            result.bad_files.append(f"{uuid}: {file_name}")
    owned |= {file_name for status, _, file_name, _ in known.values() if status == "COMPLETED" and file_name}
    result.unfinished = [uuid for uuid, (status, *_) in known.items() if status in ("PENDING", "DOWNLOADING")]
    result.strays = sorted(str(path.relative_to(stack.data)) for path in stack.data.rglob("*")
                           if path.is_file() and str(path.relative_to(stack.data)) not in owned)
