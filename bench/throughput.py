"""Queue throughput: N small downloads with MAXCONCURRENTDOWNLOADS 1, 2 and 4, against the ideal; and the cost
of starting a yt-dlp process (cold, warm, fork of a warmed process: what the runner's zygote does)."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from datetime import datetime

import requests

from bench.common import (bench_main, APP_DIR, PYTHON, YTDLP, MediaServer, Stack, Table, cpu_seconds, ensure_media,
                          fmt_ms, fmt_s, is_waiting_on_stdin, service_env, median, temp_folder, wait_for,
                          wait_warm_spares)
from bench.e2e import service_run


def total_cpu_busy() -> float:
    """Seconds of CPU time the whole machine spent not idle (all cores), from /proc/stat."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def durations_from_db(stack: Stack) -> list[float]:
    """finishedAt - startedAt of every row (the runner's own view of each download), read-only."""
    with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT startedAt, finishedAt FROM downloads WHERE status='COMPLETED'").fetchall()
    parse = datetime.fromisoformat
    return [(parse(finished) - parse(started)).total_seconds() for started, finished in rows if started and finished]


def queue_run(concurrency: int, count: int, url: str, single: float | None = None) -> dict:
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS=str(concurrency)) as stack, \
            requests.Session() as session:
        wait_warm_spares(stack)
        singles = [single] if single else []
        for _ in range(0 if single else 3):  # isolated single downloads: the per-download time with no queue
            wait_warm_spares(stack)
            singles.append(service_run(stack, session, url)["completed"])
        wait_warm_spares(stack)
        baseline_rows = stack.row_count()
        cpu_before = total_cpu_busy()
        start = time.monotonic()
        for _ in range(count):
            response = session.post(f"{stack.api}/api/initiateDownload", json={"videoURL": url}, timeout=30)
            response.raise_for_status()
        submitted = time.monotonic() - start

        def finished():
            rows = session.get(f"{stack.api}/api/listDownloads", params={"maxResults": 10000}, timeout=30).json()
            done = [r for r in rows["downloads"] if r["downloadStatus"] in ("COMPLETED", "FAILED")]
            return len(done) >= count + baseline_rows and done
        done = wait_for(finished, timeout=60 + count * 5, interval=0.02, message="the queue to drain")
        makespan = time.monotonic() - start
        cpu = total_cpu_busy() - cpu_before
        failed = sum(1 for r in done if r["downloadStatus"] == "FAILED")
        durations = sorted(durations_from_db(stack))[-count:]
        locked = stack.logs().count("database is locked")
    return {"concurrency": concurrency, "makespan": makespan, "single": median(singles), "submitted": submitted,
            "sum_durations": sum(durations), "cpu": cpu, "failed": failed, "locked": locked,
            "median_duration": median(durations)}


def queue_throughput(quick: bool) -> Table:
    media = ensure_media()
    server = MediaServer(media)
    count = 30 if quick else 100
    url = server.url + "/clip.mp4"
    table = Table(
        f"Queue throughput: {count} small downloads (clip.mp4, {(media / 'clip.mp4').stat().st_size // 1024} KB) "
        "submitted at once",
        ["MAXCONCURRENTDOWNLOADS", "Makespan", "Downloads/s", "Ideal A: N x isolated single / C",
         "Makespan / ideal A", "Ideal B: sum(finishedAt-startedAt) / C", "Makespan / ideal B",
         "Median finishedAt-startedAt", "Machine CPU-s per download", "Failed"],
        ["Isolated single = median POST -> COMPLETED visible of 3 downloads, one at a time with warm spares, measured "
         "on the C=1 stack before its queue run.",
         "finishedAt - startedAt from the rows (read-only SQLite): the runner's time per download under load.",
         f"All {count} POSTs are sent back to back first; makespan is from the first POST until listDownloads "
         "shows them all finished (polled every 20 ms).",
         f"Machine: {os.cpu_count()} cores, so with C >= 2 the yt-dlp processes, the API and the DB writer compete "
         "for CPU: CPU-s per download shows the real limit."])
    single = None
    for concurrency in (1, 2, 4):
        r = queue_run(concurrency, count, url, single)
        single = r["single"]
        ideal_a = count * r["single"] / concurrency
        ideal_b = r["sum_durations"] / concurrency
        table.add(concurrency, fmt_s(r["makespan"]), f"{count / r['makespan']:.2f}", fmt_s(ideal_a),
                  f"{r['makespan'] / ideal_a:.2f}", fmt_s(ideal_b), f"{r['makespan'] / ideal_b:.2f}",
                  fmt_ms(r["median_duration"]), f"{r['cpu'] / count:.2f}", r["failed"])
        if r["locked"]:
            table.note(f"C={concurrency}: 'database is locked' appeared {r['locked']} times in the logs")
    server.close()
    return table


def _timed(command: list[str], runs: int, **kwargs) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        times.append(time.monotonic() - start)
    return times


def _warm_spare_cost(runs: int) -> tuple[list[float], list[float]]:
    """Time and CPU of one warm yt-dlp process from spawn until it blocks on stdin (the zygote's warm-up)."""
    folder = temp_folder("prt-bench-spare-")
    walls, cpus = [], []
    for _ in range(runs):
        start = time.monotonic()
        process = subprocess.Popen([str(PYTHON), "-u", "-m", "services.runner.warm_ytdlp"], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=APP_DIR,
                                   env=service_env(folder))
        wait_for(lambda: is_waiting_on_stdin(process.pid), timeout=60, interval=0.005, message="warm spare")
        walls.append(time.monotonic() - start)
        cpus.append(cpu_seconds(process.pid))
        process.stdin.close()
        process.wait()
    return walls, cpus


FORK_PROBE = r"""
import os, sys, time
from services.runner import warm_ytdlp
warm_ytdlp._warm_up()
times = []
for _ in range(int(sys.argv[1])):
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    times.append(time.monotonic() - start)
print(" ".join(f"{t:.6f}" for t in times))
"""


def start_cost(quick: bool) -> Table:
    runs = 3 if quick else 5
    table = Table(
        f"Cost of starting yt-dlp (median of {runs})",
        ["What", "Wall time", "CPU time", "Notes"],
        ["The runner's zygote warms yt-dlp up once (the 'warm yt-dlp process' row) and forks one process per "
         "download (the fork row): downloads pay neither the start-up time nor its CPU."])
    table.add("python -c pass", fmt_ms(median(_timed([str(PYTHON), "-c", "pass"], runs))), "-", "interpreter alone")
    table.add("python -c 'import yt_dlp'", fmt_ms(median(_timed([str(PYTHON), "-c", "import yt_dlp"], runs))), "-",
              "")
    table.add("yt-dlp --version", fmt_ms(median(_timed([str(YTDLP), "--version"], runs))), "-", "")
    walls, cpus = _warm_spare_cost(runs)
    table.add("a warm yt-dlp process: spawn -> blocked on stdin", fmt_ms(median(walls)), fmt_ms(median(cpus)),
              "import + match of every extractor (services.runner.warm_ytdlp); the zygote pays it once")
    forks = subprocess.run([str(PYTHON), "-c", FORK_PROBE, str(20)], capture_output=True, text=True, cwd=APP_DIR,
                           env=service_env(temp_folder("prt-bench-fork-")), check=True).stdout.split()
    table.add("fork() of a warmed process + child exit", fmt_ms(median([float(x) for x in forks])), "-",
              "what the runner pays per download: it forks each yt-dlp process from its warm zygote")
    return table


def run(quick: bool = False) -> list[Table]:
    return [start_cost(quick).print(), queue_throughput(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
