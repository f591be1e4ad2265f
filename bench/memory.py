"""Memory: PSS of every process of the stack (supervisord and everything below it, nginx included) on the
settings `make run` uses, idle, with 4 throttled downloads running, idle again after them with the spare still
warm, and idle once the spare rested (stopped after WARMIDLESECONDS without a download)."""
from __future__ import annotations

import os
import requests

from bench.common import (bench_main, MediaServer, Stack, Table, descendants, ensure_media, is_waiting_on_stdin,
                          parent_pid, pss_kb, wait_for, wait_warm_spares, ytdlp_processes)
from tests.stack import cmdline

DOWNLOADS = 4
REST_SECONDS = 5  # WARMIDLESECONDS for this run (60 by default): the resting state is the same, reached sooner


def role(stack: Stack, pid: int, programs: dict[int, str], ytdlp: set[int]) -> str:
    """What a process of the stack is, in the words of the docs (one row per role); ytdlp: the live yt-dlp
    processes (spares and downloads)."""
    if pid == stack.process.pid:
        return "supervisord"
    if pid in programs:
        name = programs[pid]
        return {"api": "api", "nginx": "nginx: launcher (run_local.py, then supervise.py)"}.get(name, name)
    parent = parent_pid(pid)
    command = cmdline(pid).replace(b"\0", b" ").decode(errors="replace").strip()
    if programs.get(parent) == "api":
        return "api: gunicorn worker (APIWORKERS > 1)"
    if command.startswith("nginx: master"):
        return "nginx: master"
    if command.startswith("nginx: worker"):
        return "nginx: worker"
    if pid in ytdlp:
        return "runner: yt-dlp spare (waiting)" if is_waiting_on_stdin(pid) else "runner: yt-dlp download"
    if "services.runner.zygote" in command:
        return "runner: zygote"
    return command.split()[0] if command else "?"


def snapshot(stack: Stack) -> dict[str, list[int]]:
    """Role -> PSS (KiB) of each process, for supervisord and every live process below it."""
    programs = {pid: name for name, (_, pid) in stack.status().items() if pid}
    ytdlp = set(ytdlp_processes())
    rows: dict[str, list[int]] = {}
    for pid in [stack.process.pid, *descendants(stack.process.pid)]:
        rows.setdefault(role(stack, pid, programs, ytdlp), []).append(pss_kb(pid))
    return rows


def memory(quick: bool) -> Table:
    media = ensure_media()
    server = MediaServer(media)
    settings = {key: value for key, value in os.environ.items() if key.startswith("PRT_VIDEODOWNLOADER_")}
    table = Table(
        f"Memory: PSS per process of the stack on `make run`'s settings (idle, {DOWNLOADS} downloads, idle after "
        "with the spare warm, idle once it rested)",
        ["Process", "Idle: procs", "Idle: PSS", f"{DOWNLOADS} downloads: procs", f"{DOWNLOADS} downloads: PSS",
         "Idle after: procs", "Idle after: PSS", "Resting: procs", "Resting: PSS"],
        ["PSS from /proc/<pid>/smaps_rollup: shared pages are split among the processes sharing them, so the sum "
         "is what the stack really uses (RSS would count shared libraries and forked pages once per process).",
         "Every process below supervisord is counted: nginx's master and workers and the launcher that stays "
         "their parent, the API (and gunicorn's workers when APIWORKERS > 1), the runner's zygote and its yt-dlp "
         "processes.",
         f"Downloads: {DOWNLOADS} x /slow/cbr4.mp4 (throttled to ~320 KiB/s; MAXCONCURRENTDOWNLOADS raised to "
         f"{DOWNLOADS} for this), measured once all report progress; 'idle after' once they completed and the "
         "spares are warm again; 'resting' once the runner stopped its spares for want of downloads "
         f"(WARMIDLESECONDS, 60 s by default, {REST_SECONDS} s here so as not to wait a minute).",
         "Settings: the embedded defaults `make run` uses, except ports and folders (a private temporary stack)"
         + (f" and {', '.join(sorted(settings))} from the environment" if settings else "") + "."])
    settings.setdefault("PRT_VIDEODOWNLOADER_WARMIDLESECONDS", str(REST_SECONDS))
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS=str(DOWNLOADS), **settings) as stack, \
            requests.Session() as session:
        wait_warm_spares(stack)
        idle = snapshot(stack)
        uuids = []
        for index in range(DOWNLOADS):
            response = session.post(f"{stack.api}/api/initiateDownload",
                                    json={"videoURL": f"{server.url}/slow/cbr4.mp4?m={index}"}, timeout=30)
            uuids.append(response.json()["downloadUUID"])

        def rows():
            listed = session.get(f"{stack.api}/api/listDownloads", timeout=30).json()["downloads"]
            return [row for row in listed if row["downloadUUID"] in uuids]
        wait_for(lambda: sum(1 for r in rows() if (r.get("progress") or 0) > 0) == DOWNLOADS, timeout=60,
                 interval=0.05, message=f"{DOWNLOADS} downloads to make progress")
        busy = snapshot(stack)
        wait_for(lambda: all(r["downloadStatus"] == "COMPLETED" for r in rows()), timeout=120, interval=0.2,
                 message=f"{DOWNLOADS} downloads to complete")
        wait_warm_spares(stack)
        after = snapshot(stack)
        runner = stack.pid("runner")
        wait_for(lambda: not ytdlp_processes(runner), timeout=120, interval=0.1, message="the spares to rest")
        resting = snapshot(stack)
    server.close()

    def cells(snap: dict[str, list[int]], name: str) -> tuple[str, str]:
        found = snap.get(name, [])
        return (str(len(found)), f"{sum(found) / 1024:.1f} MiB" if found else "-")

    names = sorted(set(idle) | set(busy) | set(after) | set(resting), key=lambda n: (n.split(":")[0], n))
    for name in names:
        table.add(name, *cells(idle, name), *cells(busy, name), *cells(after, name), *cells(resting, name))
    totals = [sum(sum(values) for values in snap.values()) / 1024 for snap in (idle, busy, after, resting)]
    table.add("**total**", "", f"**{totals[0]:.0f} MiB**", "", f"{totals[1]:.0f} MiB", "",
              f"**{totals[2]:.0f} MiB**", "", f"**{totals[3]:.0f} MiB**")
    table.note(f"Each running download adds {(totals[1] - totals[0]) / DOWNLOADS:.0f} MiB PSS. Target (issue 20): "
               "<= 200 MiB idle.")
    return table


def run(quick: bool = False) -> list[Table]:
    return [memory(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
