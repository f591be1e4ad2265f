"""Nothing outlives its supervisor, and a yt-dlp process killed by someone else is an infrastructure failure:
kill -9 of supervisord, of nginx's master, of the runner's zygote and of yt-dlp processes, on the real stack."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.stack import (YTDLP_PROCESS_NAMES, Stack, cmdline, descendants, parent_pid, process_name, wait_for,
                         ytdlp_process_of)


def identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time): tells a process from a later one that reused its pid; None once it is gone (a
    zombie counts as gone: it holds no port, file or memory)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (pid, fields[19])


def still_running(identities: list[tuple[int, str]]) -> list[str]:
    return [f"{pid} {process_name(pid)}" for pid, start in identities if identity(pid) == (pid, start)]


def download_state(stack: Stack, uuid: str) -> tuple[str, int, float]:
    item = stack.download(uuid)
    return item["downloadStatus"], item["attempts"], item.get("progress") or 0


def test_kill_9_of_supervisord_takes_every_process_along_and_a_new_stack_finishes_the_download(media,
                                                                                                media_folder):
    stack = Stack().start()
    try:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?orphaned")
        wait_for(lambda: download_state(stack, uuid)[2] > 1, timeout=60, message="the download to progress")
        tree = descendants(stack.process.pid)
        names = [process_name(pid) for pid in tree]
        assert "nginx" in names and "yt-dlp" in names, names  # a download is running
        assert stack.pid("api") in tree
        assert len([name for name in names if name == "nginx"]) >= 2  # nginx's master and workers
        identities = [identity(pid) for pid in tree]
        os.kill(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
        wait_for(lambda: not still_running([i for i in identities if i]), timeout=10,
                 message="every process of the stack to exit with supervisord")
    finally:
        stack.stop()
    again = Stack(folder=stack.folder, ports=(stack.api_port, stack.https_port))
    with again:
        first_pids = {name: pid for name, (_, pid) in again.status().items()}
        item = again.wait_until_final(uuid, timeout=90)
        assert item["downloadStatus"] == "COMPLETED" and item["attempts"] == 2, item  # run again once
        assert [path.name for path in again.data.rglob(f"{uuid}*")] == [item["fileName"]]
        assert (again.data / item["fileName"]).read_bytes() == (media_folder / "long.mp4").read_bytes()
        assert requests.get(f"{again.https}/videodownloader/{item['fileName']}", verify=again.ca,
                            timeout=10).status_code == 200
        assert {name: pid for name, (_, pid) in again.status().items()} == first_pids  # nothing restarted
        assert "Address already in use" not in again.logs()


def test_kill_9_of_the_nginx_master_lets_a_new_master_serve_https(stack):
    def master() -> int | None:
        return next((pid for pid in stack.processes()
                     if process_name(pid) == "nginx" and process_name(parent_pid(pid)) != "nginx"), None)

    old_master = master()
    workers = [identity(pid) for pid in descendants(old_master)]
    assert workers and all(workers)
    assert requests.get(f"{stack.https}/", verify=stack.ca, timeout=10).status_code == 200
    os.kill(old_master, signal.SIGKILL)
    wait_for(lambda: master() not in (None, old_master)
             and requests.get(f"{stack.https}/", verify=stack.ca, timeout=2).status_code == 200,
             timeout=15, message="a new nginx master answering HTTPS")
    assert not still_running(workers)
    new_master = master()
    assert requests.get(f"{stack.https}/", verify=stack.ca, timeout=10).status_code == 200
    assert master() == new_master  # it stays up: no restart loop


def test_running_downloads_survive_the_zygote_being_killed_again_and_again(media, media_folder):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="3", PRT_VIDEODOWNLOADER_WARMPROCESSES="2") as stack:
        uuids = [stack.start_download(f"{media.url}/slow/long.mp4?zygote={n}") for n in range(4)]
        runner = stack.pid("runner")

        def forks() -> list[int]:  # the zygote and the yt-dlp processes it forked
            return [pid for pid in descendants(runner) if b"services.runner.zygote" in cmdline(pid)]

        def zygote() -> int | None:
            return next((pid for pid in forks() if parent_pid(pid) == runner
                         and process_name(pid) not in YTDLP_PROCESS_NAMES), None)

        def spares() -> list[int]:  # yt-dlp renames itself "yt-dlp" when it starts a job
            return [pid for pid in forks() if pid != zygote() and process_name(pid) != "yt-dlp"]

        kills = 0
        while not all(stack.download(uuid)["downloadStatus"] == "COMPLETED" for uuid in uuids) and kills < 12:
            # a new zygote has forked the two spares again: restarted without waiting for a download
            victim = wait_for(lambda: (pid := zygote()) and len(spares()) == 2 and pid,
                              timeout=30, message="a new zygote and its spares")
            os.kill(victim, signal.SIGKILL)
            kills += 1
            wait_for(lambda: zygote() != victim, timeout=10, message="the killed zygote to go")
        items = [stack.wait_until_final(uuid, timeout=90) for uuid in uuids]
        assert kills >= 3, kills
        original = (media_folder / "long.mp4").read_bytes()
        for item in items:
            assert item["downloadStatus"] == "COMPLETED" and item["attempts"] == 1, item
            assert (stack.data / item["fileName"]).read_bytes() == original
        assert stack.pid("runner") == runner


def test_a_ytdlp_process_killed_by_someone_else_is_run_again_then_given_up_on(media, media_folder):
    with Stack(PRT_VIDEODOWNLOADER_MAXATTEMPTS="2") as stack:
        def kill_attempt(uuid: str, attempt: int) -> None:
            wait_for(lambda: download_state(stack, uuid)[:2] == ("DOWNLOADING", attempt)
                     and download_state(stack, uuid)[2] > 1 and ytdlp_process_of(uuid), timeout=60,
                     message=f"attempt {attempt} of {uuid} in progress")
            os.kill(ytdlp_process_of(uuid), signal.SIGKILL)

        survivor = stack.start_download(f"{media.url}/slow/long.mp4?killed-once")
        kill_attempt(survivor, 1)
        item = stack.wait_until_final(survivor, timeout=90)
        assert item["downloadStatus"] == "COMPLETED" and item["attempts"] == 2, item
        assert (stack.data / item["fileName"]).read_bytes() == (media_folder / "long.mp4").read_bytes()

        doomed = stack.start_download(f"{media.url}/slow/long.mp4?killed-twice")
        kill_attempt(doomed, 1)
        kill_attempt(doomed, 2)
        item = stack.wait_until_final(doomed, timeout=60)
        assert item["downloadStatus"] == "FAILED" and item["attempts"] == 2, item
        assert (item["errorCode"], item["retryable"]) == ("runnerLost", True), item
        assert item["errorDetail"].startswith("gave up after 2 attempts: runner lost its yt-dlp process: "
                                              "killed by SIGKILL"), item["errorDetail"]
        wait_for(lambda: not list(stack.data.rglob(f"{doomed}*")), timeout=10, message="its partial files removed")


WATCHED_API = """
import sys, time
from gevent import monkey
monkey.patch_all()
import gevent
from gunicorn.config import Config
from gunicorn.workers.workertmp import WorkerTmp
from services.api.server import watch_event_loop

class Worker:
    tmp = WorkerTmp(Config())

Worker.tmp.notify()
watch_event_loop(Worker, timeout=2)
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    Worker.tmp.notify()
    if sys.argv[1] == "blocked":
        monkey.get_original("time", "sleep")(10)  # a call that blocks the whole event loop
    gevent.sleep(0.2)
print("still serving")
"""


def run_watched_api(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WATCHED_API, mode], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[1])


def test_an_api_whose_event_loop_stops_turning_exits_for_supervisord_to_start_it_again():
    """The watchdog that replaces gunicorn's master with one worker (services/api/server.py), on both sides."""
    blocked = run_watched_api("blocked")
    assert blocked.returncode == 1, (blocked.stdout, blocked.stderr)
    assert "the event loop has not turned" in blocked.stdout and "still serving" not in blocked.stdout
    turning = run_watched_api("turning")
    assert turning.returncode == 0 and "still serving" in turning.stdout, (turning.stdout, turning.stderr)
