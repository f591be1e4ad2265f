"""Progress write path: many throttled downloads at once (MAXCONCURRENTDOWNLOADS=50): DB commits per second,
lag between bytes sent by the media server and the progress the API reports, CPU of the DB writer and runner."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import requests

from tests.media import THROTTLE_CHUNK, THROTTLE_DELAY

from bench.common import (bench_main, MediaServer, Stack, Table, cpu_seconds, ensure_media, median, percentile,
                          wait_for)


def commit_counter(db: Path, stop: threading.Event, result: dict) -> None:
    """Counts commits by others through PRAGMA data_version, polled every 2 ms (undercounts above ~500/s)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    last = connection.execute("PRAGMA data_version").fetchone()[0]
    changes = 0
    while not stop.is_set():
        value = connection.execute("PRAGMA data_version").fetchone()[0]
        if value != last:
            changes += 1
            last = value
        stop.wait(0.002)
    connection.close()
    result["commits"] = changes


def progress_path(quick: bool) -> Table:
    concurrency = 20 if quick else 50
    window = 6.0 if quick else 10.0
    media = ensure_media()
    server = MediaServer(media)
    size = (media / "cbr20.mp4").stat().st_size
    rate = THROTTLE_CHUNK / THROTTLE_DELAY
    table = Table(
        f"Progress write path: {concurrency} throttled downloads at once (MAXCONCURRENTDOWNLOADS={concurrency}), "
        f"measured over {window:g} s",
        ["Measure", "Value"],
        [f"Each download is /slow/cbr20.mp4?n=<i> ({size / 1e6:.1f} MB at about {rate / 1024:.0f} KiB/s: "
         "16 KiB every 50 ms), so all run for the whole measurement.",
         "Commits: PRAGMA data_version of a read-only connection polled every 2 ms (another connection's commit "
         "changes it).",
         "Lag: every 0.5 s, for each download, (bytes the media server has written for that URL - progress% x "
         "size from listDownloads) / throttle rate = how far, in seconds, the API is behind the wire. It includes "
         "yt-dlp's own progress reporting, the runner's 0.3 s coalescing, the group commit and the read.",
         "CPU: utime+stime deltas from /proc/<pid>/stat over the window, in % of one core."])
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS=str(concurrency)) as stack, requests.Session() as session:
        urls = {}
        for index in range(concurrency):
            path = f"/slow/cbr20.mp4?n={index}"
            response = session.post(f"{stack.api}/api/initiateDownload", json={"videoURL": server.url + path},
                                    timeout=30)
            response.raise_for_status()
            urls[response.json()["downloadUUID"]] = path

        def all_progressing():
            rows = session.get(f"{stack.api}/api/listDownloads", timeout=30).json()["downloads"]
            going = [r for r in rows if r["downloadUUID"] in urls and r["downloadStatus"] == "DOWNLOADING"
                     and (r.get("progress") or 0) > 0]
            return len(going) >= concurrency
        started = time.monotonic()
        wait_for(all_progressing, timeout=180, interval=0.1, message="all downloads to report progress")
        ramp = time.monotonic() - started
        dbwriter, runner = stack.pid("dbwriter"), stack.pid("runner")
        stop, counted = threading.Event(), {}
        counter = threading.Thread(target=commit_counter, args=(stack.db, stop, counted))
        cpu0 = {name: cpu_seconds(pid) for name, pid in (("dbwriter", dbwriter), ("runner", runner))}
        t0 = time.monotonic()
        counter.start()
        lags, next_sample = [], t0
        while time.monotonic() - t0 < window:
            now = time.monotonic()
            if now >= next_sample:
                rows = session.get(f"{stack.api}/api/listDownloads", timeout=30).json()["downloads"]
                sent_now = dict(server.sent)
                for row in rows:
                    path = urls.get(row["downloadUUID"])
                    if path and row["downloadStatus"] == "DOWNLOADING" and row.get("progress") is not None \
                            and sent_now.get(path, 0) < size:
                        lags.append((sent_now.get(path, 0) - row["progress"] / 100 * size) / rate)
                next_sample = now + 0.5
            time.sleep(0.01)  # loop pacing of the sampler, not synchronisation
        elapsed = time.monotonic() - t0
        stop.set()
        counter.join()
        cpu = {name: (cpu_seconds(pid) - cpu0[name]) / elapsed * 100
               for name, pid in (("dbwriter", dbwriter), ("runner", runner))}
        locked = stack.logs().count("database is locked")
        still = sum(1 for r in session.get(f"{stack.api}/api/listDownloads", timeout=30).json()["downloads"]
                    if r["downloadUUID"] in urls and r["downloadStatus"] == "DOWNLOADING")
    table.add("time until all reported progress > 0 (ramp-up)", f"{ramp:.1f} s")
    table.add("downloads still DOWNLOADING at the end of the window", still)
    table.add("DB commits/s", f"{counted['commits'] / elapsed:.1f}")
    table.add("progress updates/s the runner may send (1 per download per 0.3 s)",
              f"<= {concurrency / 0.3:.0f}")
    table.add("lag wire -> API: median / p90 / max (samples)",
              f"{median(lags):.2f} s / {percentile(lags, 90):.2f} s / {max(lags):.2f} s ({len(lags)})")
    table.add("dbwriter CPU", f"{cpu['dbwriter']:.1f} % of a core")
    table.add("runner CPU (reads and parses every yt-dlp progress line)", f"{cpu['runner']:.1f} % of a core")
    table.add("'database is locked' in the logs", locked)
    server.close()
    return table


def run(quick: bool = False) -> list[Table]:
    return [progress_path(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
