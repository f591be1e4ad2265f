"""File serving: nginx (HTTPS, the stack's own configuration) sending a 200 MB file, with and without Range
requests, against reading the same file locally (`cat file > /dev/null`, warm cache) as the physical limit."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid as uuidlib

from bench.common import bench_main, Stack, Table, ensure_media, median, temp_folder

MB = 1e6

RANGE_SCRIPT = """
math.randomseed(%d)
request = function()
  local start = math.random(0, 199) * 1048576
  return wrk.format("GET", nil, {["Range"] = "bytes=" .. start .. "-" .. (start + 1048575)})
end
"""


def _curl(url: str, *extra: str) -> tuple[int, float]:
    output = subprocess.run(["curl", "-k", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
                             *extra, url], capture_output=True, text=True, check=True).stdout.split()
    if output[0] not in ("200", "206"):
        raise RuntimeError(f"curl got HTTP {output[0]} for {url}")
    return int(output[1]), float(output[2])


def _rate(pairs: list[tuple[int, float]]) -> str:
    rates = [size / seconds / MB for size, seconds in pairs]
    return f"{median(rates):,.0f} MB/s"


def _wrk_transfer(output: str) -> float:
    match = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", output)
    return float(match[1]) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[match[2]] / MB


def file_serving(quick: bool) -> Table:
    runs = 2 if quick else 3
    duration = 4 if quick else 8
    media = ensure_media()
    source = media / "big200.bin"
    table = Table(
        f"File serving: a 200 MB file (random bytes named <uuid>.mp4) over HTTPS from the stack's nginx "
        f"(median of {runs})",
        ["Client", "Throughput", "Compared with local read"],
        ["Local read: `cat file > /dev/null` after a first read (page cache warm): the physical limit here.",
         "nginx: the stack's configuration (sendfile on, aio threads, TLS 1.3 on 127.0.0.1, 2 workers). With TLS "
         "nginx cannot use sendfile (no kTLS in this build), so bytes are encrypted in user space: CPU-bound.",
         "curl and wrk run on the same 2 cores as nginx."])
    with Stack() as stack:
        name = f"{uuidlib.uuid4()}.mp4"
        target = stack.data / name
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        target.chmod(0o644)
        url = f"{stack.https}/videodownloader/{name}"
        local = []
        subprocess.run(["sh", "-c", f"cat '{target}' > /dev/null"], check=True)
        for _ in range(runs):
            start = time.monotonic()
            subprocess.run(["sh", "-c", f"cat '{target}' > /dev/null"], check=True)
            local.append(source.stat().st_size / (time.monotonic() - start) / MB)
        limit = median(local)
        table.add("local `cat > /dev/null`", f"{limit:,.0f} MB/s", "1.00")

        def add(label: str, pairs: list[tuple[int, float]] | None = None, rate: float | None = None):
            if rate is None:
                rate = median([size / seconds / MB for size, seconds in pairs])
            table.add(label, f"{rate:,.0f} MB/s", f"{rate / limit:.2f}")

        _curl(url, "--http1.1")
        add("curl, HTTP/1.1, whole file, 1 connection", [_curl(url, "--http1.1") for _ in range(runs)])
        add("curl, HTTP/2, whole file, 1 connection", [_curl(url, "--http2") for _ in range(runs)])
        add("curl, HTTP/1.1, Range: bytes=104857600- (second half)",
            [_curl(url, "--http1.1", "-H", "Range: bytes=104857600-") for _ in range(runs)])
        # 4 whole-file downloads at once
        start = time.monotonic()
        processes = [subprocess.Popen(["curl", "-k", "-s", "--http1.1", "-o", "/dev/null", url]) for _ in range(4)]
        for process in processes:
            process.wait()
        add("4 x curl at once, HTTP/1.1, whole file (aggregate)",
            rate=4 * source.stat().st_size / (time.monotonic() - start) / MB)
        folder = temp_folder("prt-bench-files-")
        script = folder / "range.lua"
        script.write_text(RANGE_SCRIPT % int(time.time()))
        output = subprocess.run(["wrk", "-t2", "-c4", f"-d{duration}s", "-s", str(script), url],
                                capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
        add(f"wrk -c4, random 1 MiB Range requests ({rps:.0f} requests/s)", rate=_wrk_transfer(output))
        shutil.rmtree(folder, ignore_errors=True)
        target.unlink()
    return table


def run(quick: bool = False) -> list[Table]:
    return [file_serving(quick).print()]


if __name__ == "__main__":
    bench_main(run, __doc__)
