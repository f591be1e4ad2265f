"""The chaos run of tests/test_chaos.py, for as long as you like.

`python -m bench.chaos [--duration S] [--downloads N] [--concurrency C] [--max-attempts A] [--victims KIND ...]
[--seed X] [--keep]`

A real stack in a temp folder runs N throttled downloads of the tests' media (about 10 s each) at concurrency C
while a random process of that stack (runner, scheduler with the publisher's threads, dbwriter, api, the zygote, a yt-dlp process
running a download) is killed with SIGKILL every 2-5 s for S seconds or until every download is final. It prints
the kills per victim kind, the final states, the attempts, and what it finds wrong: files that are missing or not
whole, files in the data folder that no row owns, rows left PENDING or DOWNLOADING. Exit status 1 if anything is.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys

from bench.common import MediaServer, Stack, Table, ensure_media, stop_stacks_on_sigterm
from tests.chaos import VICTIM_KINDS, run_chaos


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120, help="seconds of kills at most (default 120)")
    parser.add_argument("--downloads", type=int, default=40, help="downloads started before the chaos (default 40)")
    parser.add_argument("--concurrency", type=int, default=4, help="MAXCONCURRENTDOWNLOADS (default 4)")
    parser.add_argument("--max-attempts", type=int, default=10,
                        help="MAXATTEMPTS (default 10: the chaos kills far more often than real failures do)")
    parser.add_argument("--victims", nargs="+", choices=VICTIM_KINDS, default=list(VICTIM_KINDS),
                        help="kinds of process to kill (default: all)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (printed) afterwards")
    options = parser.parse_args()
    stop_stacks_on_sigterm()
    seed = options.seed if options.seed is not None else random.randrange(1 << 32)
    media = ensure_media()
    server = MediaServer(media)
    stack = Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS=str(options.concurrency),
                  PRT_VIDEODOWNLOADER_MAXATTEMPTS=str(options.max_attempts))
    print(f"chaos: seed {seed}, {options.downloads} downloads at concurrency {options.concurrency}, "
          f"up to {options.duration:g} s of kills of {', '.join(options.victims)}, MAXATTEMPTS "
          f"{options.max_attempts}, stack in {stack.folder}",
          flush=True)
    try:
        with stack:
            result = run_chaos(stack, f"{server.url}/slow/longer.mp4", media / "longer.mp4", options.downloads,
                               options.duration, options.max_attempts, random.Random(seed),
                               kinds=tuple(options.victims), report=lambda line: print(line, flush=True))
    finally:
        server.close()
        if not options.keep:
            shutil.rmtree(stack.folder, ignore_errors=True)

    kills = Table(f"Chaos: kills per victim kind ({result.chaos_seconds:.0f} s of kills, seed {seed})",
                  ["victim", "kills"])
    for kind in options.victims:
        kills.add(kind, result.kills[kind])
    kills.add("all", sum(result.kills.values()))
    kills.print()
    outcome = Table(f"Chaos: outcome of {result.downloads} downloads", ["measure", "value"])
    for status, count in sorted(result.statuses.items()):
        outcome.add(f"{status}", count)
    outcome.add("attempts (runs: downloads)", ", ".join(f"{a}: {n}" for a, n in sorted(result.attempts.items())))
    outcome.add(f"over MAXATTEMPTS ({result.max_attempts})", result.over_limit)
    outcome.add("missing or not whole files", len(result.bad_files))
    outcome.add("stray files in the data folder", len(result.strays))
    outcome.add("rows left PENDING or DOWNLOADING", len(result.unfinished))
    outcome.add("settling after the last kill", f"{result.settle_seconds:.0f} s")
    outcome.print()
    for line in [*result.errors, *result.bad_files, *(f"stray: {s}" for s in result.strays),
                 *(f"unfinished: {u}" for u in result.unfinished)]:
        print(line)
    wrong = (result.statuses.get("COMPLETED", 0) != result.downloads or result.bad_files or result.strays
             or result.unfinished or result.over_limit)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
