"""End-to-end time of one download through the service against a fresh `yt-dlp` process on the same URL.

Service: from POST initiateDownload until listDownloads (polled every 10 ms) shows COMPLETED, with the times
the UUID came back and DOWNLOADING became visible; "waited": the same, told by one waitForDownload call (push)
instead of polling. Direct: `yt-dlp --ignore-config -o ... URL` in a new process. The three are interleaved
(the order rotates) and the median of each side is compared. Before each service run the runner's spares are
warm and idle, as they are on a service that is not saturated. The media server runs in a process of its own.

The second part runs the warm yt-dlp process protocol by hand (services.runner.warm_ytdlp, the service's own
argument list) and timestamps its output lines, to show where the time goes inside yt-dlp; then ffprobe.
"""
from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

import requests

from bench.common import (bench_main, APP_DIR, PYTHON, LogFollower, Stack, Table, ensure_media, fmt_ms, is_waiting_on_stdin,
                          service_env, median, run_direct_ytdlp, temp_folder, wait_for, wait_warm_spares)

class MediaServerProcess:
    """The tests' media server (tests.media.MediaServer) in a process of its own, as a real video host would be:
    in this process its threads would compete for the interpreter lock with the benchmark's own polling (every
    10 ms) and log follower (every 2 ms), which slows the service's transfers and not the direct runs."""

    def __init__(self, folder: Path):
        code = ("import sys; from pathlib import Path; from tests.media import MediaServer; "
                "server = MediaServer(Path(sys.argv[1])); print(server.url, flush=True); sys.stdin.read()")
        self.process = subprocess.Popen([str(PYTHON), "-c", code, str(folder)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, cwd=APP_DIR, text=True)
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError("the media server process did not start")

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


CASES = [("4 MB mp4", "/cbr4.mp4"), ("20 MB mp4", "/cbr20.mp4"), ("HLS (4 x 1 s, 4 MB)", "/hls4/index.m3u8")]


LOG_MARKS = [("created", ("created PENDING",)), ("dispatched", ("dispatched",)),
             ("attempt", ("DOWNLOADING attempt",)), ("ytdlp_exit", ("yt-dlp exited",)),
             ("committed", ("COMPLETED file",))]


def service_run(stack: Stack, session: requests.Session, url: str, timeout: float = 60,
                follower: LogFollower | None = None, wait: bool = False) -> dict[str, float]:
    """wait: learn the completion from one waitForDownload call (push) instead of polling listDownloads."""
    start = time.monotonic()
    response = session.post(f"{stack.api}/api/initiateDownload", json={"videoURL": url}, timeout=30)
    response.raise_for_status()
    uuid = response.json()["downloadUUID"]
    marks = {"uuid": time.monotonic() - start}
    if follower is not None:
        marks["_follower"], marks["_uuid"], marks["_start"] = follower, uuid, start
    deadline = start + timeout
    if wait:
        row = session.get(f"{stack.api}/api/waitForDownload", params={"videoDownloadUUID": uuid,
                          "timeoutSeconds": timeout}, timeout=timeout + 5).json()
        marks["completed"] = time.monotonic() - start
        if row["downloadStatus"] != "COMPLETED":
            raise RuntimeError(f"download failed: {row.get('errorMessage')}")
        return log_marks(marks)
    while time.monotonic() < deadline:
        rows = session.get(f"{stack.api}/api/listDownloads", params={"onlyShowOngoingDownloads": "false"},
                           timeout=30).json()["downloads"]
        row = next((item for item in rows if item["downloadUUID"] == uuid), None)
        status = row["downloadStatus"] if row else None
        now = time.monotonic() - start
        if status == "DOWNLOADING" and "downloading" not in marks:
            marks["downloading"] = now
        if status in ("COMPLETED", "FAILED"):
            if status == "FAILED":
                raise RuntimeError(f"download failed: {row.get('errorMessage')}")
            marks.setdefault("downloading", now)
            marks["completed"] = now
            return log_marks(marks)
        time.sleep(0.01)  # the 10 ms polling interval of the measurement, not synchronisation
    raise TimeoutError(f"{url} did not complete within {timeout}s")


def log_marks(marks: dict) -> dict[str, float]:
    """Adds the moments the stack logged each step of this download (lines timestamped as they arrive)."""
    follower = marks.pop("_follower", None)
    uuid, start = marks.pop("_uuid", None), marks.pop("_start", None)
    if follower is None:
        return marks
    # the COMPLETED line may arrive a few ms after the API already shows it
    wait_for(lambda: follower.first(f"download={uuid}", "COMPLETED file"), timeout=5, interval=0.005,
             message="the COMPLETED log line")
    for key, needles in LOG_MARKS:
        moment = follower.first(f"download={uuid}", *needles, after=start)
        marks[key] = moment - start if moment is not None else float("nan")
    return marks


METUBE_REFERENCE = ("MeTube, as measured and reported in issue 20 (Nov 2026) on this kind of machine (same loopback media, "
                    "5 tries, same yt-dlp version): 4 MB mp4 0.37x, 20 MB mp4 0.43x of direct yt-dlp; idle PSS 62 MB, "
                    "129 MB after downloads.")


def end_to_end(quick: bool) -> tuple[Table, Table]:
    media = ensure_media()
    server = MediaServerProcess(media)
    pairs = 3 if quick else 5
    table = Table(
        f"End-to-end: service vs direct yt-dlp (median of {pairs} interleaved pairs)",
        ["Media", "Direct yt-dlp", "Service", "Ratio service/direct", "UUID returned", "DOWNLOADING visible",
         "COMPLETED visible", "Service min..max", "Service, waitForDownload", "Ratio waited/direct"],
        ["Target: ratio <= 0.15. Times from POST initiateDownload; status polled every 10 ms.",
         "Service, waitForDownload: the same download told complete by one waitForDownload call (push) instead of "
         "polling listDownloads every 10 ms, which keeps the API busy on the same 2 cores; these runs are "
         "interleaved with the others.",
         f"External reference, not measured by this run: {METUBE_REFERENCE}",
         "Direct: `yt-dlp --ignore-config -q --no-progress -o ... URL` in a fresh process, same URL, same run."])
    steps = Table(
        "End-to-end: where the service's time goes (median ms from POST initiateDownload, same runs)",
        ["Media", "UUID returned (API + DB commit)", "dbwriter logged PENDING", "scheduler dispatched",
         "DOWNLOADING committed", "DOWNLOADING visible in API", "yt-dlp exited", "COMPLETED committed",
         "COMPLETED visible in API"],
        ["Log lines have no timestamps: a thread follows the stack's log file and timestamps each line as "
         "supervisord writes it (2 ms polling), so each step is an upper bound within a few ms.",
         "'yt-dlp exited' -> 'COMPLETED committed': the runner's checks of the file plus the FinishDownload commit "
         "(the media check itself now runs inside the warm process, before it exits)."])
    work = temp_folder("prt-bench-direct-")
    with Stack() as stack, requests.Session() as session:
        follower = LogFollower(stack.log_path)
        for name, path in CASES:
            url = server.url + path
            direct, service, waited = [], [], []
            # one untimed round of each warms the page cache and the media server
            wait_warm_spares(stack)
            service_run(stack, session, url)
            run_direct_ytdlp(url, work)
            sides = ["service", "direct", "waited"]
            for index in range(pairs):
                for side in sides[index % 3:] + sides[:index % 3]:
                    if side == "direct":
                        direct.append(run_direct_ytdlp(url, work))
                        continue
                    wait_warm_spares(stack)
                    marks = service_run(stack, session, url, follower=follower, wait=side == "waited")
                    (service if side == "service" else waited).append(marks)
            d = median(direct)
            s = {key: median([m[key] for m in service]) for key in ("uuid", "downloading", "completed")}
            completed = [m["completed"] for m in service]
            pushed = median([m["completed"] for m in waited])
            table.add(name, fmt_ms(d), fmt_ms(s["completed"]), f"{s['completed'] / d:.2f}", fmt_ms(s["uuid"]),
                      fmt_ms(s["downloading"]), fmt_ms(s["completed"]),
                      f"{fmt_ms(min(completed))}..{fmt_ms(max(completed))}", fmt_ms(pushed), f"{pushed / d:.2f}")
            m = {key: median([r[key] for r in service]) for key in service[0]}
            steps.add(name, *(fmt_ms(m[key]) for key in ("uuid", "created", "dispatched", "attempt", "downloading",
                                                         "ytdlp_exit", "committed", "completed")))
        follower.close()
        for line in stack.logs().splitlines():
            if "database is locked" in line:
                table.note(f"LOG: {line}")
    server.close()
    shutil.rmtree(work, ignore_errors=True)
    return table, steps


VARIANTS = [  # label, kind: "alone", "meanwhile" (a replacement spare starts at the same time), "zygote"
    ("warm_ytdlp alone", "alone"),
    ("warm_ytdlp, a new spare warming up meanwhile", "meanwhile"),
    ("forked from the zygote, as the runner does", "zygote"),
]


def start_zygote(folder: Path):
    """The runner's zygote (services.runner.processes.Zygote) with this process in the runner's place: a child
    subreaper that adopts the yt-dlp processes it forks."""
    from common.lifecycle import become_subreaper
    from services.runner.processes import Zygote

    become_subreaper()
    logging.getLogger("runner").setLevel(logging.ERROR)  # its warning when the benchmark stops it at the end
    saved = dict(os.environ)
    os.environ.update(service_env(folder))  # the zygote inherits this process's environment
    try:
        zygote = Zygote(str(PYTHON))
        zygote.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return zygote


def warm_process_run(url: str, folder: Path, kind: str = "alone", zygote=None) -> dict[str, float]:
    """One download in a hand-started services.runner.warm_ytdlp (kind "alone", "meanwhile") or in a process
    forked by the zygote (kind "zygote"); times from writing the arguments.

    Speaks both protocols: the current one (the process prints PRT-DONE <code>, reads the reported file's path
    and prints PRT-PROBE with its own media check) and the older one (exit after yt-dlp; ffprobe outside)."""
    from common import ytdlp

    env = service_env(folder)
    data = folder / "data"
    uuid = str(uuidlib.uuid4())
    command = [str(PYTHON), "-u", "-m", "services.runner.warm_ytdlp"]
    if kind == "zygote":
        process = zygote.fork()
        stdout = io.TextIOWrapper(io.BufferedReader(process.stdout))
    else:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   cwd=APP_DIR, env=env, text=True, bufsize=1, start_new_session=True)
        stdout = process.stdout
    wait_for(lambda: is_waiting_on_stdin(process.pid), timeout=60, interval=0.01, message="warm yt-dlp")
    spare = None
    arguments = ytdlp.build_command_line(uuid, url, [], data, data / ".partial")
    done_marker = getattr(ytdlp, "DONE_MARKER", None)
    probe_marker = getattr(ytdlp, "PROBE_MARKER", None)
    start = time.monotonic()
    if kind == "meanwhile":  # what the runner did before the zygote: warm a replacement spare at once
        spare = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cwd=APP_DIR, env=env, start_new_session=True)
    make_job = getattr(ytdlp, "job_line", None)  # absent in code older than the check in the yt-dlp process
    process.stdin.write(make_job(arguments, uuid, url, data, data / ".partial") if make_job
                        else json.dumps(arguments) + "\n")
    process.stdin.flush()
    if not done_marker:
        process.stdin.close()
    marks: dict = {}
    for line in stdout:
        now = time.monotonic() - start
        if line.startswith(ytdlp.PROGRESS_MARKER):
            marks.setdefault("first_progress", now)
            if json.loads(line[len(ytdlp.PROGRESS_MARKER):]).get("status") == "finished":
                marks.setdefault("transfer_done", now)
        elif line.startswith(ytdlp.FILE_MARKER):
            marks["file"] = now
            marks["path"] = json.loads(line[len(ytdlp.FILE_MARKER):])
        elif done_marker and line.startswith(done_marker):
            marks["done"] = now
            process.stdin.write(marks.get("path", "") + "\n")
            process.stdin.close()
        elif probe_marker and line.startswith(probe_marker):
            marks["probed"] = now
            problem = json.loads(line[len(probe_marker):]).get("problem")
            if problem:
                raise RuntimeError(problem)
    process.wait()
    marks["exit"] = time.monotonic() - start
    stderr = process.stderr.read()
    stderr = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    if kind == "zygote":
        process.close()
    if process.returncode != 0:
        raise RuntimeError(f"warm yt-dlp failed: {stderr[-500:]}")
    marks.setdefault("done", marks["exit"])
    if "probed" in marks:
        marks["check"] = marks["probed"] - marks["done"]
    else:  # older protocol: the runner ran ffprobe itself after the exit
        check_start = time.monotonic()
        result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
                                 marks["path"]], capture_output=True)
        marks["check"] = time.monotonic() - check_start
        marks["probed"] = marks["exit"] + marks["check"]
        if result.returncode != 0:
            raise RuntimeError("ffprobe failed")
    if spare is not None:
        spare.kill()
        spare.wait()
    for path in data.glob(f"{uuid}*"):
        path.unlink()
    return marks


def warm_breakdown(quick: bool) -> Table:
    media = ensure_media()
    server = MediaServerProcess(media)
    runs = 2 if quick else 3
    folder = temp_folder("prt-bench-warm-")
    zygote = start_zygote(folder)
    table = Table(
        f"Inside one warm yt-dlp process (median of {runs}; times from writing the JSON arguments to its stdin)",
        ["Media", "Warm process", "Options+extraction (to 1st progress line)", "Transfer (to 'finished')",
         "Post-processing+move (to PRT-FILE line)", "yt-dlp done (PRT-DONE)", "Media check",
         "Total (checked)", "Process exit"],
        ["services.runner.warm_ytdlp started by hand with PRT_VIDEODOWNLOADER_* pointing at a temp folder and "
         "arguments from common.ytdlp.build_command_line (the service's own command line).",
         "Media check: the warm process's own check (PRT-PROBE, PyAV) when it has one, else an ffprobe process "
         "(what the runner used to run).",
         "'a new spare warming up meanwhile': a second warm_ytdlp starts importing when the arguments are written "
         "(what the runner did before it forked spares from a zygote); on 2 cores it competes for "
         "CPU with the download.",
         "'forked from the zygote': a process forked by services.runner.processes.Zygote, as the runner gets its "
         "spares (this benchmark in the runner's place), and given its job once it waits; its first writes to "
         "the memory it shares with the zygote copy pages (copy-on-write), which a hand-started process does "
         "not pay."])
    for name, path in CASES:
        for label, kind in VARIANTS:
            runs_marks = [warm_process_run(server.url + path, folder, kind, zygote) for _ in range(runs)]
            m = {key: median([r[key] for r in runs_marks])
                 for key in ("first_progress", "transfer_done", "file", "done", "check", "probed", "exit")}
            table.add(name, label, fmt_ms(m["first_progress"]), fmt_ms(m["transfer_done"] - m["first_progress"]),
                      fmt_ms(m["file"] - m["transfer_done"]), fmt_ms(m["done"]), fmt_ms(m["check"]),
                      fmt_ms(m["probed"]), fmt_ms(m["exit"]))
    zygote.stop()
    zygote.popen.wait()
    server.close()
    shutil.rmtree(folder, ignore_errors=True)
    return table


def run(quick: bool = False) -> list[Table]:
    ratio, steps = end_to_end(quick)
    return [ratio.print(), steps.print(), warm_breakdown(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
