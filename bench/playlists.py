"""Playlists (issue 19): queuing a 200-entry playlist (an RSS feed on loopback). How long the service takes from
initiateDownload to 200 PENDING children (the yt-dlp listing in a warm process plus the DB writer's one
transaction), against a fresh `yt-dlp --flat-playlist -J` of the same feed, and how fast the DB writer creates
the child rows; the full run also downloads all 200 entries."""
from __future__ import annotations

import subprocess
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

import requests

from bench.common import YTDLP, MediaServer, Stack, Table, bench_main, ensure_media, fmt_ms, median, poll_until

ENTRIES = 200


def _parent(stack: Stack, uuid: str) -> dict | None:
    return next((item for item in stack.downloads(overLastPeriodDurationInMinutes=60, maxResults=10000)
                 if item["downloadUUID"] == uuid), None)


def _writer_rows_per_second() -> float:
    """The DB writer's handler alone: one ExpandPlaylist of ENTRIES children committed to a fresh SQLite file."""
    from common import bus
    from common.db import upgrade_schema, writer_connection, writer_engine
    from common.statuses import DownloadStatusEnum
    from services.dbwriter import handlers
    from services.dbwriter.rows import Download, transaction

    path = Path(tempfile.mkdtemp(prefix="prt-bench-playlist-")) / "bench.sqlite"
    engine = writer_engine(path)
    upgrade_schema(engine)
    engine.dispose()
    connection = writer_connection(path)
    parent = str(uuidlib.uuid4())
    with transaction(connection) as batch:
        batch.add(Download(uuid=parent, videoURL="http://127.0.0.1/feed", ytdlpParameters=[], attempts=1,
                           status=DownloadStatusEnum.DOWNLOADING, attemptToken="bench"))
    entries = [bus.PlaylistEntry(url=f"http://127.0.0.1/{i}.mp4", title=f"Entry {i}") for i in range(ENTRIES)]
    start = time.perf_counter()
    with transaction(connection) as batch:
        assert handlers.apply(batch, bus.ExpandPlaylist(uuid=parent, attemptToken="bench", entries=entries))["ok"]
    rate = ENTRIES / (time.perf_counter() - start)
    connection.close()
    return rate


def playlist_queue(quick: bool) -> Table:
    runs = 2 if quick else 3
    media = ensure_media()
    server = MediaServer(media)
    table = Table(f"Queuing a {ENTRIES}-entry playlist (RSS feed on loopback, playlistMaxItems={ENTRIES}; median of "
                  f"{runs})", ["Step", "Time", "Rate"],
                  ["Listing: initiateDownload until listDownloads shows the PLAYLIST parent with all its children "
                   "(scheduler, runner, yt-dlp --flat-playlist in a warm process, one ExpandPlaylist commit).",
                   "DB writer alone: the ExpandPlaylist handler and commit, no bus, no yt-dlp."])
    try:
        feed = f"{server.url}/feed.rss?items={ENTRIES}"
        direct = []
        for _ in range(runs):
            start = time.monotonic()
            subprocess.run([str(YTDLP), "--ignore-config", "--flat-playlist", "-J", feed], check=True,
                           capture_output=True)
            direct.append(time.monotonic() - start)
        table.add("fresh `yt-dlp --flat-playlist -J` process", fmt_ms(median(direct)), "")
        writer = median([_writer_rows_per_second() for _ in range(runs)])
        table.add(f"DB writer: {ENTRIES} child rows in one transaction", fmt_ms(ENTRIES / writer),
                  f"{writer:,.0f} rows/s")
        with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="4") as stack:
            listed, parent = [], None
            for run in range(runs):
                start = time.monotonic()
                response = requests.post(f"{stack.api}/api/initiateDownload", timeout=30,
                                         json={"videoURL": f"{feed}&run={run}", "playlistMaxItems": ENTRIES})
                parent = response.json()["downloadUUID"]
                poll_until(lambda: (item := _parent(stack, parent)) and item.get("childrenTotal") == ENTRIES,
                           timeout=120, interval=0.02, message="the playlist's children")
                listed.append(time.monotonic() - start)
                if run < runs - 1 or quick:
                    requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": parent}, timeout=30)
            table.add(f"service: initiateDownload to {ENTRIES} PENDING children", fmt_ms(median(listed)),
                      f"{ENTRIES / median(listed):,.0f} children/s")
            if not quick:
                start = time.monotonic()
                item = poll_until(lambda: (item := _parent(stack, parent)) and item["downloadStatus"] in (
                    "COMPLETED", "FAILED") and item, timeout=1200, interval=0.5, message="all entries downloaded")
                seconds = time.monotonic() - start
                table.add(f"then all {ENTRIES} entries downloaded (3 s clips, 4 at once): "
                          f"{item['childrenCompleted']} COMPLETED", f"{seconds:.1f} s",
                          f"{ENTRIES / seconds:.1f} downloads/s")
    finally:
        server.close()
    return table


def run(quick: bool = False) -> list[Table]:
    return [playlist_queue(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
