"""Memory: RSS (and PSS) of every service process idle and with 4 throttled downloads running."""
from __future__ import annotations


import requests

from bench.common import (bench_main, MediaServer, Stack, Table, descendants, ensure_media, pss_kb, rss_kb, wait_for,
                          wait_warm_spares, ytdlp_processes)


def snapshot(stack: Stack, running: set[int] | None = None) -> dict[str, list[int]]:
    """Process groups -> pids. yt-dlp processes are split into spares (waiting) and running ones."""
    from bench.common import is_waiting_on_stdin
    groups: dict[str, list[int]] = {}
    status = stack.status()
    for service in ("api", "dbwriter", "scheduler", "runner", "nginx"):
        pid = status.get(service, ("", None))[1]
        if not pid:
            continue
        if service == "runner":
            groups["runner"] = [pid]
            spares, busy = [], []
            for child in ytdlp_processes(pid):
                (spares if is_waiting_on_stdin(child) else busy).append(child)
            groups["yt-dlp spares (warm, waiting)"] = spares
            groups["yt-dlp running downloads (+ their children)"] = busy + [d for b in busy for d in descendants(b)]
        elif service == "api":
            groups["api master (gunicorn arbiter)"] = [pid]
            groups["api workers"] = [child for child in descendants(pid)]
        else:
            groups[service] = [pid] + descendants(pid)
    if stack.process:
        groups["supervisord"] = [stack.process.pid]
    return groups


def measure(groups: dict[str, list[int]]) -> dict[str, tuple[int, int, int]]:
    return {name: (len(pids), sum(rss_kb(p) for p in pids), sum(pss_kb(p) for p in pids))
            for name, pids in groups.items()}


def memory(quick: bool) -> Table:
    media = ensure_media()
    server = MediaServer(media)
    table = Table(
        "Memory: RSS and PSS per service, idle and with 4 downloads running (MAXCONCURRENTDOWNLOADS=4, "
        "WARMPROCESSES=2)",
        ["Process group", "Idle: procs", "Idle: RSS", "Idle: PSS", "4 downloads: procs", "4 downloads: RSS",
         "4 downloads: PSS"],
        ["RSS from /proc/<pid>/status (VmRSS), PSS from /proc/<pid>/smaps_rollup (shared pages split among the "
         "processes sharing them: the sum of PSS is what the stack really uses).",
         "Downloads: 4 x /slow/cbr4.mp4 (throttled to ~320 KiB/s), measured once all 4 report progress and the "
         "spares are warm again."])
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="4") as stack, requests.Session() as session:
        wait_warm_spares(stack, 2)
        idle = measure(snapshot(stack))
        uuids = []
        for index in range(4):
            response = session.post(f"{stack.api}/api/initiateDownload",
                                    json={"videoURL": f"{server.url}/slow/cbr4.mp4?m={index}"}, timeout=30)
            uuids.append(response.json()["downloadUUID"])

        def progressing():
            rows = session.get(f"{stack.api}/api/listDownloads", timeout=30).json()["downloads"]
            return sum(1 for r in rows if r["downloadUUID"] in uuids and (r.get("progress") or 0) > 0) == 4
        wait_for(progressing, timeout=60, interval=0.05, message="4 downloads to make progress")
        wait_warm_spares(stack, 2)
        busy = measure(snapshot(stack))
    server.close()
    kib = lambda value: f"{value / 1024:.0f} MiB"  # noqa: E731
    totals = [0, 0, 0, 0]
    for name in busy:
        i = idle.get(name, (0, 0, 0))
        b = busy[name]
        table.add(name, i[0], kib(i[1]), kib(i[2]), b[0], kib(b[1]), kib(b[2]))
        totals = [totals[0] + i[1], totals[1] + i[2], totals[2] + b[1], totals[3] + b[2]]
    table.add("**total**", "", kib(totals[0]), kib(totals[1]), "", kib(totals[2]), kib(totals[3]))
    running = busy["yt-dlp running downloads (+ their children)"]
    if running[0]:
        table.note(f"Per download: {running[1] / 4 / 1024:.0f} MiB RSS, {running[2] / 4 / 1024:.0f} MiB PSS for its "
                   f"yt-dlp process; the stack's total PSS grows by {(totals[3] - totals[1]) / 4 / 1024:.0f} MiB per "
                   "running download.")
    return table


def run(quick: bool = False) -> list[Table]:
    return [memory(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
