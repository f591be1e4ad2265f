"""Issue 21's chaos run, short: throttled downloads survive kill -9 of any process of the stack, the zygote and
yt-dlp included. `python -m bench.chaos` runs it longer and prints the figures."""
from __future__ import annotations

import random

from tests.chaos import VICTIM_KINDS, run_chaos
from tests.stack import Stack

MAX_ATTEMPTS = 6  # a kill every 3.5 s on average hits a download far more often than real failures do


def test_every_download_survives_random_kill_9_of_any_process_of_the_stack(media, media_folder):
    seed = random.randrange(1 << 32)
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="3",
               PRT_VIDEODOWNLOADER_MAXATTEMPTS=str(MAX_ATTEMPTS)) as stack:
        result = run_chaos(stack, f"{media.url}/slow/longer.mp4", media_folder / "longer.mp4", downloads=10,
                           duration=50, max_attempts=MAX_ATTEMPTS, rng=random.Random(seed), report=print)
    summary = f"seed {seed}: {result}"
    assert result.statuses == {"COMPLETED": 10}, summary
    assert not result.bad_files, summary
    assert not result.unfinished, summary
    assert result.over_limit == 0, summary
    assert not result.strays, summary
    assert sum(result.kills.values()) >= 8 and set(result.kills) == set(VICTIM_KINDS), summary
