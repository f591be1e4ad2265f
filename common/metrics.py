"""Counters and histograms of all services, defined in one place and counted by the DB writer alone.

The runner, the publisher and the API report what they count on the bus (YtdlpExited, S3UploadAttempted,
ParameterChecked); the DB writer keeps the counts in memory and hands them out with its answer to a
Ping(withMetrics=True); the API renders them in Prometheus's format (prometheus_client) only when /api/metrics
is asked for. So no service loads prometheus_client to count (~4 MiB each: its package brings http.server,
ssl and email), and nothing shares a multiprocess directory. The counts start from zero when the DB writer
starts, which Prometheus reads as a counter reset (rate() and increase() handle it). tests/test_metrics.py
keeps what these count equal to what prometheus_client's own counters and histograms would.
"""
from __future__ import annotations

from bisect import bisect_left

from common.bus import MetricFamily


class Counter:
    def __init__(self, name: str, documentation: str, label_names: tuple[str, ...] = ()):
        self.name, self.documentation, self.label_names = name, documentation, label_names
        self.values: dict[tuple[str, ...], float] = {}
        FAMILIES.append(self)

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        if len(label_values) != len(self.label_names):  # as prometheus_client's labels() refuses them
            raise ValueError(f"{self.name} takes the labels {self.label_names}, not {label_values}")
        self.values[label_values] = self.values.get(label_values, 0.0) + amount

    def family(self) -> MetricFamily:
        return MetricFamily(name=self.name, documentation=self.documentation, kind="counter",
                            labelNames=list(self.label_names),
                            samples=[(list(labels), value) for labels, value in sorted(self.values.items())])


class Histogram:
    """Buckets as Prometheus counts them: an observation falls in the first bucket whose upper bound is >= it."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]):
        self.name, self.documentation, self.buckets = name, documentation, tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0
        FAMILIES.append(self)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value

    def family(self) -> MetricFamily:
        return MetricFamily(name=self.name, documentation=self.documentation, kind="histogram",
                            buckets=list(self.buckets), bucketCounts=list(self.counts), sum=self.sum)


FAMILIES: list[Counter | Histogram] = []

DOWNLOADS_FINISHED = Counter("prt_downloads_finished_total", "Downloads that reached a final state", ("status",))
DOWNLOAD_DURATION = Histogram("prt_download_duration_seconds", "From the start of the attempt to COMPLETED",
                              buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600))
DOWNLOAD_SIZE = Histogram("prt_download_size_bytes", "Size of completed files",
                          buckets=tuple(2 ** power for power in range(16, 36, 2)))
YTDLP_EXIT_CODES = Counter("prt_ytdlp_exit_codes_total", "yt-dlp process exits by return code", ("code",))
DBWRITER_COMMIT_SECONDS = Histogram("prt_dbwriter_commit_seconds", "Time to apply and commit one batch",
                                    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
S3_UPLOADS = Counter("prt_s3_uploads_total", "S3 upload attempts by result", ("result",))
PARAMETER_CHECKS = Counter("prt_parameter_checks_total", "yt-dlp parameter checks by who answered: the runner's "
                           "yt-dlp, or the API itself while the runner did not answer", ("by",))


def snapshot() -> list[MetricFamily]:
    return [family.family() for family in FAMILIES]
