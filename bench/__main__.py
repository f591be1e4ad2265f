"""`python -m bench [--quick] [--only NAME ...] [--markdown FILE]`: runs every benchmark and prints its tables.

Each benchmark is also runnable alone: `python -m bench.e2e`, `bench.throughput`, `bench.api`, `bench.progress`,
`bench.memory`, `bench.files`, `bench.push`, `bench.playlists` (all accept --quick).
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import (ForeignLoad, ensure_media, machine_description, stop_stacks_on_sigterm,
                          wait_for_quiet_machine)

BENCHMARKS = ["e2e", "throughput", "api", "progress", "memory", "files", "push", "playlists"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and downloads (about 5 minutes)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--markdown", type=Path, help="also write all tables to this Markdown file")
    options = parser.parse_args()
    stop_stacks_on_sigterm()
    started = time.monotonic()
    tables = [machine_description().print()]
    media_start = time.monotonic()
    ensure_media()
    print(f"(media ready in {time.monotonic() - media_start:.1f} s, cached in /tmp/prt-bench-media)\n", flush=True)
    failures = []
    timings = []
    for name in options.only or BENCHMARKS:
        print(f"## {name}\n", flush=True)
        before = wait_for_quiet_machine()
        bench_start = time.monotonic()
        load = ForeignLoad()
        try:
            produced = importlib.import_module(f"bench.{name}").run(options.quick)
        except Exception:
            traceback.print_exc()
            failures.append(name)
            produced = []
        foreign = load.stop()
        note = (f"Other processes on the machine (not this benchmark) used {foreign:.0f} % of a core on average "
                f"while it ran ({before:.0f} % just before).")
        if foreign > 20:
            note += " WARNING: the machine was shared; figures are pessimistic."
        print(f"({name}: {note})\n", flush=True)
        for table in produced:
            table.note(note)
        tables += produced
        timings.append((name, time.monotonic() - bench_start))
    total = time.monotonic() - started
    summary = "Run time: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings) + \
              f"; total {total:.0f} s ({'--quick' if options.quick else 'full'} run)."
    print(summary)
    if options.markdown:
        options.markdown.write_text("\n".join(table.render() for table in tables) + "\n" + summary + "\n")
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
