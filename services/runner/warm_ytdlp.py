"""A yt-dlp process started ahead of need.

It imports yt-dlp and compiles its extractor patterns, then waits on stdin for one JSON argument list and
runs yt-dlp's own command-line entry point with it: same parser, same output, same exit code as `yt-dlp`.
It kills its whole process group (itself, ffmpeg children) if the runner that started it disappears.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

WARM_URL = "https://warm-up.invalid/video.mp4"


def _die_with_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os.killpg(0, signal.SIGKILL)
        time.sleep(0.25)


def _warm_up() -> None:
    """Pays yt-dlp's start-up once, before a job needs it: imports and the first match of every extractor."""
    import yt_dlp  # noqa: F401
    import yt_dlp.downloader.hls  # noqa: F401
    import yt_dlp.downloader.http  # noqa: F401
    import yt_dlp.extractor.generic  # noqa: F401
    import yt_dlp.postprocessor  # noqa: F401
    from yt_dlp.extractor import gen_extractor_classes

    for extractor in gen_extractor_classes():
        extractor.suitable(WARM_URL)


def main() -> None:
    threading.Thread(target=_die_with_parent, args=(os.getppid(),), daemon=True).start()
    _warm_up()
    import yt_dlp

    from common.config import load_settings
    from common.network import guard_connections

    blocked = load_settings().BLOCKEDURLNETWORKS
    line = sys.stdin.readline()
    if not line.strip():
        return
    arguments = json.loads(line)
    guard_connections(blocked)
    yt_dlp.main(arguments)


if __name__ == "__main__":
    main()
