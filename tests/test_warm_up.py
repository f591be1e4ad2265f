"""The zygote's warm-up runs one whole yt-dlp job against a loopback server of its own (so that every download
starts with yt-dlp's lazily built state ready, issue 20): it must leave nothing behind but caches."""
from __future__ import annotations

import tempfile
from pathlib import Path

from tests.stack import (ZYGOTE_PROCESS_NAME, Stack, process_table, socket_inodes_of, wait_for,
                         ytdlp_processes)


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
        zygotes = [pid for pid, (parent, name, _) in process_table().items()
                   if parent == runner and name == ZYGOTE_PROCESS_NAME]
        assert len(zygotes) == 1, "the zygote keeps its name after running yt-dlp's main"
        assert not socket_inodes_of(zygotes[0]) & listening_tcp_inodes(), "the warm-up server is closed"
        assert set(temporary.glob("prt-warm-up-*")) == before, "the warm-up job's folder is removed"
        logs = stack.logs()
        assert "warm-up job ended" not in logs
        assert "PRT-" not in logs and "[generic]" not in logs, "the warm-up job's output went to /dev/null"
        uuid = stack.start_download(f"{media.url}/clip.mp4?after-warm-up")
        item = stack.wait_until_final(uuid)
        assert item["downloadStatus"] == "COMPLETED" and item["fileName"] == f"{uuid}.mp4", item
