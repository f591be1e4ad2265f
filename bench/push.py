"""Push: event latency from commit to client (p50/p99) with 50 downloads running and 200 connected /api/events
clients (half on the API port, half through nginx), and the API's threads, memory and latency with 200
waitForDownload waiters."""
from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import ssl
import time
from datetime import datetime, timezone

import requests

from bench.common import (MediaServer, Stack, Table, bench_main, descendants, ensure_media, fmt_ms, percentile,
                          rss_kb, wait_for)

CLIENTS = 200
DOWNLOADS = 50


async def follow_events(host: str, port: int, tls: ssl.SSLContext | None, received: list, ready: list,
                        stop: asyncio.Event) -> None:
    """One /api/events client on a raw connection: records (arrival time, event id) of every event."""
    reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    writer.write(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    pending = b""
    try:
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.5)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                return
            arrived = time.time()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"id: "):
                    received.append((arrived, int(line[4:])))
                elif line.startswith(b": connected"):
                    ready.append(1)
    finally:
        writer.close()


async def clients_during(stack: Stack, clients: int, seconds: float, start_work) -> tuple[list, list]:
    tls = ssl.create_default_context(cafile=stack.ca)
    direct, proxied, ready = [], [], []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(follow_events("127.0.0.1", stack.api_port, None, direct, ready, stop))
             for _ in range(clients // 2)]
    tasks += [asyncio.create_task(follow_events("127.0.0.1", stack.https_port, tls, proxied, ready, stop))
              for _ in range(clients - clients // 2)]
    deadline = time.monotonic() + 60
    while len(ready) < clients and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.get_running_loop().run_in_executor(None, start_work)
    await asyncio.sleep(seconds)  # the measurement window
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return direct, proxied


def committed_at(stack: Stack) -> dict[int, float]:
    """When each event was written: its row's createdAt, set in the DB writer's transaction just before the
    commit (so the figures include the commit itself)."""
    with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
        return {row[0]: datetime.fromisoformat(row[1]).replace(tzinfo=timezone.utc).timestamp()
                for row in connection.execute('SELECT id, "createdAt" FROM events')}


def event_latency(quick: bool) -> Table:
    seconds = 15 if quick else 40
    table = Table(f"Event latency, commit to client ({DOWNLOADS} downloads running, {CLIENTS} /api/events clients)",
                  ["Clients", "Events received", "Events/s per client", "p50", "p99", "max"],
                  [f"{DOWNLOADS} throttled downloads (~32 KB/s each, loopback media server) run at once "
                   f"(MAXCONCURRENTDOWNLOADS={DOWNLOADS}); clients are raw asyncio connections in one process.",
                   "Latency = arrival at the client − the event row's createdAt (written in the DB writer's "
                   "transaction just before the commit): commit + PUB + the API worker's hub + SSE (+ nginx).",
                   f"Measured over a {seconds} s window once every download had started."])
    media = MediaServer(ensure_media())
    stack = Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS=str(DOWNLOADS))
    try:
        stack.start()

        def start_downloads():
            for _ in range(DOWNLOADS):
                stack.start_download(f"{media.url}/crawl/cbr4.mp4")
            wait_for(lambda: sum(i["downloadStatus"] == "DOWNLOADING" for i in stack.downloads()) >= DOWNLOADS,
                     timeout=120, message=f"{DOWNLOADS} downloads running")
        direct, proxied = asyncio.run(clients_during(stack, CLIENTS, seconds, start_downloads))
        written = committed_at(stack)
        for name, received in (("API port (100)", direct), ("nginx HTTPS (100)", proxied)):
            latencies = [arrived - written[event_id] for arrived, event_id in received if event_id in written]
            per_client = len(received) / (CLIENTS // 2) / max(1.0, seconds)
            table.add(name, len(received), f"{per_client:.1f}", fmt_ms(percentile(latencies, 50)),
                      fmt_ms(percentile(latencies, 99)), fmt_ms(max(latencies, default=float("nan"))))
    finally:
        stack.stop()
        media.close()
        shutil.rmtree(stack.folder, ignore_errors=True)
    return table


def api_footprint(stack: Stack) -> tuple[int, int]:
    """Threads and RSS (KiB) of the API: its process and its workers if any (APIWORKERS > 1)."""
    master = stack.pid("api")
    pids = [master, *descendants(master)]
    threads = 0
    for pid in pids:
        try:
            threads += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return threads, sum(rss_kb(pid) for pid in pids)


async def waiters_during(stack: Stack, uuid: str, count: int, measure) -> list:
    async def wait_one():
        reader, writer = await asyncio.open_connection("127.0.0.1", stack.api_port)
        writer.write(f"GET /api/waitForDownload?videoDownloadUUID={uuid}&timeoutSeconds=120 HTTP/1.1\r\n"
                     f"Host: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        return answer.split(b" ", 2)[1]
    tasks = [asyncio.create_task(wait_one()) for _ in range(count)]
    await asyncio.sleep(0)
    result = await asyncio.get_running_loop().run_in_executor(None, measure)
    return [result, await asyncio.gather(*tasks)]


def waiters(quick: bool) -> Table:
    table = Table(f"API with {CLIENTS} waitForDownload waiters (gevent worker, 2 workers)",
                  ["State", "API threads", "API RSS", "hello p50", "hello p99", "listDownloads p50"],
                  ["Waiters wait on a stalled download, then it is cancelled: every waiter answered CANCELLED.",
                   "The previous gthread worker (2 × 8 threads) would serve 16 waiters; the 17th request, of any "
                   "kind, would queue until a waiter's timeout (up to 300 s)."])
    media = MediaServer(ensure_media())
    stack = Stack()
    samples = 50 if quick else 200
    try:
        stack.start()
        uuid = stack.start_download(f"{media.url}/stall/cbr4.mp4")
        wait_for(lambda: stack.download(uuid)["downloadStatus"] == "DOWNLOADING", timeout=30, message="DOWNLOADING")

        def sample(label: str) -> None:
            hello, listing = [], []
            with requests.Session() as session:
                for _ in range(samples):
                    started = time.monotonic()
                    session.get(f"{stack.api}/api/hello", timeout=10).raise_for_status()
                    hello.append(time.monotonic() - started)
                for _ in range(samples // 5):
                    started = time.monotonic()
                    session.get(f"{stack.api}/api/listDownloads", timeout=10).raise_for_status()
                    listing.append(time.monotonic() - started)
            threads, rss = api_footprint(stack)
            table.add(label, threads, f"{rss / 1024:.0f} MiB", fmt_ms(percentile(hello, 50)),
                      fmt_ms(percentile(hello, 99)), fmt_ms(percentile(listing, 50)))

        sample("idle")

        def with_waiters():
            wait_for(lambda: established(stack.api_port) >= CLIENTS, timeout=60, message="the waiters connected")
            sample(f"{CLIENTS} waiters arriving")  # the first samples overlap the waiters' own requests
            sample(f"{CLIENTS} waiters waiting")
            requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": uuid}, timeout=10)
        _, statuses = asyncio.run(waiters_during(stack, uuid, CLIENTS, with_waiters))
        table.note(f"Waiters answered 200: {sum(status == b'200' for status in statuses)} of {CLIENTS}.")
    finally:
        stack.stop()
        media.close()
        shutil.rmtree(stack.folder, ignore_errors=True)
    return table


def established(port: int) -> int:
    count = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as lines:
            count += sum(1 for line in list(lines)[1:]
                         if line.split()[3] == "01" and int(line.split()[1].rsplit(":", 1)[1], 16) == port)
    return count


def run(quick: bool = False) -> list[Table]:
    return [waiters(quick).print(), event_latency(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
