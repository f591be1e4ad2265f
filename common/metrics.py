"""Prometheus metrics of all services, defined in one place.

Only the DB writer counts (the runner's yt-dlp exits and the publisher's upload attempts reach it on the bus,
YtdlpExited and S3UploadAttempted, so that those processes do not load prometheus_client, ~2 MiB each); the
API reads its counts from PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode), shared by the
processes ops/run-stack starts. Queue gauges are read from the database when scraped, so they need no
multiprocess gauge.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

DOWNLOADS_FINISHED = Counter("prt_downloads_finished_total", "Downloads that reached a final state", ["status"])
DOWNLOAD_DURATION = Histogram("prt_download_duration_seconds", "From the start of the attempt to COMPLETED",
                              buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
DOWNLOAD_SIZE = Histogram("prt_download_size_bytes", "Size of completed files",
                          buckets=tuple(2 ** power for power in range(16, 36, 2)))
YTDLP_EXIT_CODES = Counter("prt_ytdlp_exit_codes_total", "yt-dlp process exits by return code", ["code"])
DBWRITER_COMMIT_SECONDS = Histogram("prt_dbwriter_commit_seconds", "Time to apply and commit one batch",
                                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
S3_UPLOADS = Counter("prt_s3_uploads_total", "S3 upload attempts by result", ["result"])
