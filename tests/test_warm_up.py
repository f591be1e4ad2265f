"""The zygote's warm-up runs one whole yt-dlp job against a loopback server of its own (so that every download
starts with yt-dlp's lazily built state ready, issue 20): it must leave nothing behind but caches."""
from __future__ import annotations

import filecmp
import json
import subprocess
import tempfile
from pathlib import Path

from common.ytdlp import DONE_MARKER, FILE_MARKER, PROBE_MARKER, PROGRESS_MARKER, build_command_line, job_line
from services.runner.warm_ytdlp import LARGEST_READ
from tests.stack import (APP_DIR, PYTHON, Stack, service_env, socket_inodes_of, wait_for, ytdlp_processes,
                         zygotes_of)


def listening_tcp_inodes() -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                found.add(fields[9])
    return found


def test_the_warm_up_job_leaves_only_caches(media):
    temporary = Path(tempfile.gettempdir())
    before = set(temporary.glob("prt-warm-up-*"))
    with Stack() as stack:
        runner = stack.pid("runner")
        wait_for(lambda: ytdlp_processes(runner=runner), timeout=60, message="a warm spare")
        zygotes = zygotes_of(runner)
        assert len(zygotes) == 1, "the zygote keeps its name after running yt-dlp's main"
        assert not socket_inodes_of(zygotes[0]) & listening_tcp_inodes(), "the warm-up server is closed"
        assert set(temporary.glob("prt-warm-up-*")) == before, "the warm-up job's folder is removed"
        logs = stack.logs()
        assert "warm-up job ended" not in logs
        assert "PRT-" not in logs and "[generic]" not in logs, "the warm-up job's output went to /dev/null"
        uuid = stack.start_download(f"{media.url}/clip.mp4?after-warm-up")
        item = stack.wait_until_final(uuid)
        assert item["downloadStatus"] == "COMPLETED" and item["fileName"] == f"{uuid}.mp4", item


def test_a_fast_download_reads_at_most_a_mebibyte_at_a_time(media, media_folder, tmp_path):
    """yt-dlp grows its reads with the rate, up to 4 MiB; the warm process stops them at LARGEST_READ (faster
    and smaller on a fast link, issue 20). Seen from outside: progress in steps that grow up to that size and
    no further, and the same file."""
    data = tmp_path / "data"
    uuid, url = "6f1c1b7e-3b1a-4c55-9d1e-4f0e8c2a7b10", f"{media.url}/large.mp4"
    arguments = build_command_line(uuid, url, [], data, data / ".partial")
    process = subprocess.Popen([str(PYTHON), "-m", "services.runner.warm_ytdlp"], cwd=APP_DIR,
                               env=service_env(tmp_path), text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        process.stdin.write(job_line(arguments, uuid, url, data, data / ".partial"))
        process.stdin.flush()
        downloaded, path, probe = [], None, None
        for line in process.stdout:
            if line.startswith(PROGRESS_MARKER):
                downloaded.append(json.loads(line[len(PROGRESS_MARKER):])["downloaded_bytes"])
            elif line.startswith(FILE_MARKER):
                path = json.loads(line[len(FILE_MARKER):])
            elif line.startswith(DONE_MARKER):
                assert line.split()[1] == "0", process.stderr.read()
                process.stdin.write(f"{path}\n")
                process.stdin.close()
            elif line.startswith(PROBE_MARKER):
                probe = json.loads(line[len(PROBE_MARKER):])
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()
    steps = [after - before for before, after in zip(downloaded, downloaded[1:])]
    assert max(steps) == LARGEST_READ, steps
    assert steps[:3] == [2048, 4096, 8192], "below the limit the reads grow as yt-dlp's own"
    assert probe == {"problem": None, "durationSeconds": probe["durationSeconds"]} and probe["durationSeconds"] > 3
    assert filecmp.cmp(path, media_folder / "large.mp4", shallow=False)
