"""API: listDownloads latency with 1k/10k/100k rows, and initiateDownload requests/s from 16 concurrent clients
(wrk with a Lua script)."""
from __future__ import annotations

import json
import random
import re
import shutil
import sqlite3
import subprocess
import time
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from common.config import setting_fields
from common.ytdlp import PARAMETER_CHECK_SOCKET

from bench.common import (bench_main, MediaServer, Stack, Table, ensure_media, fmt_ms, percentile, temp_folder,
                          wait_for)

WINDOW_ROWS_PER_HOUR = 50  # "realistic": about 1,200 downloads a day
PARAMETERS = "-f bestvideo*+bestaudio/best --embed-subs --sub-langs en"


def insert_rows(db: Path, count: int, recent: int) -> int:
    """Adds `count` finished rows directly to a stopped stack's SQLite file: `recent` of them in the last 60
    minutes, the others spread uniformly over the 30 days before. Returns how many are inside the window."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for index in range(count):
        if index < recent:
            created = now - timedelta(seconds=random.uniform(30, 3540))
        else:
            created = now - timedelta(seconds=random.uniform(3700, 30 * 86400))
        failed = index % 20 == 0
        uuid = str(uuidlib.uuid4())
        rows.append((uuid, f"https://videos.example.com/watch/{index}.mp4", json.dumps(["--format", "best"]),
                     "FAILED" if failed else "COMPLETED", None if failed else 12_345_678, None if failed else 100.0,
                     None if failed else f"{uuid}.mp4", "HTTP Error 404: Not Found" if failed else None, 1,
                     created.isoformat(sep=" "), (created + timedelta(seconds=3)).isoformat(sep=" "),
                     (created + timedelta(seconds=0.05)).isoformat(sep=" "),
                     (created + timedelta(seconds=3)).isoformat(sep=" ")))
    with sqlite3.connect(db) as connection:
        connection.executemany(
            'INSERT INTO downloads (uuid, "videoURL", "ytdlpParameters", status, "sizeInBytes", progress, '
            '"fileName", "errorMessage", attempts, "createdAt", "updatedAt", "startedAt", "finishedAt") '
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return recent


def latency(session: requests.Session, url: str, params: dict, count: int) -> tuple[list[float], int]:
    times, items = [], 0
    for _ in range(count):
        start = time.monotonic()
        response = session.get(url, params=params, timeout=30)
        times.append(time.monotonic() - start)
        response.raise_for_status()
        items = len(response.json()["downloads"])
    return times, items


ALL_HISTORY = {"overLastPeriodDurationInMinutes": 5256000, "maxResults": 50}


def ui_cases(session: requests.Session, url: str) -> list[tuple[str, dict]]:
    """What the web UI asks (issue 17): all of history a page of 50 at a time, filtered and searched."""
    second_page = session.get(url, params=ALL_HISTORY, timeout=30).json().get("nextPageToken")
    cases = [("UI: All, first page of 50", ALL_HISTORY),
             ("UI: All, status FAILED (5 %)", {**ALL_HISTORY, "downloadStatus": "FAILED"}),
             ("UI: All, search 'watch/4242' (rare, indexed)", {**ALL_HISTORY, "search": "watch/4242"}),
             ("UI: All, search 'videos' (in every row)", {**ALL_HISTORY, "search": "videos"}),
             ("UI: All, search '42' (2 chars: a scan)", {**ALL_HISTORY, "search": "42"}),
             ("UI: All, search 'watch/4242' + FAILED", {**ALL_HISTORY, "search": "watch/4242",
                                                        "downloadStatus": "FAILED"}),
             ("UI: All, search 'zzz-none' (no match)", {**ALL_HISTORY, "search": "zzz-none"})]
    if second_page:
        cases.append(("UI: All, second page (pageToken)", {**ALL_HISTORY, "pageToken": second_page}))
    return cases


def list_latency(quick: bool) -> Table:
    requests_per_case = 100 if quick else 200
    table = Table(
        f"listDownloads latency ({requests_per_case} sequential requests per case, keep-alive client)",
        ["Rows in DB", "Query", "Rows returned", "p50", "p99", "max"],
        ["Rows were inserted directly into the SQLite file of the stopped stack with sqlite3 (same schema, created "
         "by the DB writer's migration), then the stack was started again.",
         f"Rows are spread uniformly over the last 30 days except about {WINDOW_ROWS_PER_HOUR} created within the "
         "last hour (the default 60-minute window).",
         "'30-day window' puts every row inside the window: the API returns maxResults (default 1000) rows.",
         "'UI: ...' rows are what the web UI asks: all of history, pages of 50, with a status filter and/or a "
         "search (an FTS5 trigram index for 3+ characters found in at most 2,000 rows; else a scan newest first).",
         "Target: p99 < 50 ms at 100k rows with the default 60-minute window, and for the UI's queries."])
    stack = Stack()
    stack.start()
    stack.stop()
    total = 0
    try:
        for size in (1_000, 10_000, 100_000):
            insert_rows(stack.db, size - total, WINDOW_ROWS_PER_HOUR if total == 0 else 0)
            total = size
            stack.start()
            with requests.Session() as session:
                url = f"{stack.api}/api/listDownloads"
                cases = [("default (60 min)", {}), ("onlyShowOngoingDownloads=true", {"onlyShowOngoingDownloads": "true"}),
                         ("30-day window, maxResults 1000", {"overLastPeriodDurationInMinutes": 43200}),
                         ("30-day window, maxResults 100", {"overLastPeriodDurationInMinutes": 43200,
                                                             "maxResults": 100}),
                         *ui_cases(session, url)]
                for label, params in cases:
                    latency(session, url, params, 5)  # warm the connection pool and the page cache
                    n = requests_per_case if "maxResults 1000" not in label else max(30, requests_per_case // 5)
                    times, items = latency(session, url, params, n)
                    table.add(f"{size:,}", label, items, fmt_ms(percentile(times, 50)), fmt_ms(percentile(times, 99)),
                              fmt_ms(max(times)))
            stack.stop()
    finally:
        stack.stop()
        shutil.rmtree(stack.folder, ignore_errors=True)
    return table


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '%s'
"""


def parse_wrk(output: str) -> dict:
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
              "requests": int(re.search(r"(\d+) requests in", output)[1])}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non2xx"] = int(non2xx[1]) if non2xx else 0
    errors = re.search(r"Socket errors: (.*)", output)
    result["errors"] = errors[1] if errors else "none"
    for p in ("50", "99"):
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", output, re.M)
        if match:
            value = float(match[1]) / {"us": 1e6, "ms": 1e3, "s": 1}[match[2]]
            result[f"p{p}"] = value
    return result


def initiate_throughput(quick: bool) -> Table:
    duration = 5 if quick else 8
    media = ensure_media()
    server = MediaServer(media)
    folder = temp_folder("prt-bench-wrk-")
    table = Table(
        f"initiateDownload: requests/s from 16 concurrent clients (wrk -t2 -c16 -d{duration}s, POST JSON)",
        ["videoURL", "Requests/s", "Requests", "p50 latency", "p99 latency", "Non-2xx", "Socket errors",
         "Rows created", "CPU: API", "CPU: dbwriter", "CPU: machine"],
        ["MAXCONCURRENTDOWNLOADS=1 in every row; API defaults (APIWORKERS="
         f"{setting_fields()['APIWORKERS'][0]} gevent worker(s)).",
         "'404 URL': a loopback URL that 404s at once, so queued downloads fail fast one after the other "
         "(each in a yt-dlp process forked from the runner's zygote) while wrk runs.",
         "'stalling URL': the first download stalls (/stall/), the rest stay PENDING: only the API, the DB writer "
         "and the scheduler work, which isolates the request path.",
         f"'+ parameters': the same with ytdlpCLIParameters {PARAMETERS!r}, which the API has checked by the "
         "runner's yt-dlp (its zygote, over a socket); its CPU is not in the API column.",
         "CPU in % of one core over the wrk run (utime+stime from /proc); machine = all cores, 200 % = both busy. "
         "wrk itself runs on the same 2 cores.",
         "Target: >= 300/s on 2 cores."])
    from bench.common import cpu_seconds, descendants
    from bench.throughput import total_cpu_busy
    for label, path, parameters in (("404 URL", "/does-not-exist.mp4", None),
                                    ("stalling URL", "/stall/cbr4.mp4", None),
                                    ("stalling URL + parameters", "/stall/cbr4.mp4", PARAMETERS)):
        script = folder / "post.lua"
        body = {"videoURL": server.url + path, **({"ytdlpCLIParameters": parameters} if parameters else {})}
        script.write_text(WRK_SCRIPT % json.dumps(body))
        with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="1") as stack:
            wait_for(lambda: (stack.run / PARAMETER_CHECK_SOCKET).exists(), timeout=60,
                     message="the zygote's parameter checks")
            before = stack.row_count()
            api = [stack.pid("api"), *descendants(stack.pid("api"))]  # the API, and its workers if APIWORKERS > 1
            dbwriter = stack.pid("dbwriter")

            def cpu_now():
                return {"api": sum(cpu_seconds(p) for p in api), "dbwriter": cpu_seconds(dbwriter),
                        "machine": total_cpu_busy()}
            cpu0, t0 = cpu_now(), time.monotonic()
            output = subprocess.run(["wrk", "-t2", "-c16", f"-d{duration}s", "--latency", "-s", str(script),
                                     f"{stack.api}/api/initiateDownload"], capture_output=True, text=True,
                                    check=True).stdout
            cpu1, elapsed = cpu_now(), time.monotonic() - t0
            r = parse_wrk(output)
            created = stack.row_count() - before
            locked = stack.logs().count("database is locked")
        pct = {key: (cpu1[key] - cpu0[key]) / elapsed * 100 for key in cpu0}
        table.add(label, f"{r['rps']:.0f}", r["requests"], fmt_ms(r.get("p50")), fmt_ms(r.get("p99")),
                  r["non2xx"], r["errors"], created, f"{pct['api']:.0f} %", f"{pct['dbwriter']:.0f} %",
                  f"{pct['machine']:.0f} %")
        if locked:
            table.note(f"{label}: 'database is locked' {locked} times in the logs")
    server.close()
    shutil.rmtree(folder, ignore_errors=True)
    return table


def run(quick: bool = False) -> list[Table]:
    return [list_latency(quick).print(), initiate_throughput(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
