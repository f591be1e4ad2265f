"""The /api/metrics text: the counts the DB writer keeps (common.metrics), the queue gauges read from the
database, and the runner's yt-dlp. Imported by the endpoint when first asked: prometheus_client (~4 MiB with
the http.server, ssl and email modules its package loads) is in the API's memory only once something scrapes."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from common import bus
from common.statuses import DownloadKindEnum, DownloadStatusEnum


class QueueCollector:
    def __init__(self, read):
        self.read = read  # Backend.rows

    def collect(self):
        counts = dict(self.read(  # a playlist's parent follows its children: videos only
            "SELECT status, count(*) FROM downloads WHERE status IN (?, ?) AND downloadKind = ? GROUP BY status",
            (DownloadStatusEnum.PENDING.name, DownloadStatusEnum.DOWNLOADING.name, DownloadKindEnum.VIDEO.value)))
        yield GaugeMetricFamily("prt_queue_depth", "Downloads waiting to start (PENDING)",
                                value=counts.get(DownloadStatusEnum.PENDING.name, 0))
        yield GaugeMetricFamily("prt_downloads_running", "Downloads in progress (DOWNLOADING)",
                                value=counts.get(DownloadStatusEnum.DOWNLOADING.name, 0))


class YtdlpCollector:
    """prt_ytdlp_info{version, js_runtimes} 1: the yt-dlp new downloads start with, as the runner reported it."""

    def __init__(self, ytdlp):
        self.ytdlp = ytdlp

    def collect(self):
        info = GaugeMetricFamily("prt_ytdlp_info", "The yt-dlp version (and JS runtimes) of the runner",
                                 labels=["version", "js_runtimes"])
        if self.ytdlp is not None:
            info.add_metric([self.ytdlp.version, ",".join(self.ytdlp.jsRuntimes)], 1)
        yield info


class CountsCollector:
    """The DB writer's counters and histograms (none while it does not answer)."""

    def __init__(self, families: list[bus.MetricFamily]):
        self.families = families

    def collect(self):
        for family in self.families:
            if family.kind == "counter":
                metric = CounterMetricFamily(family.name.removesuffix("_total"), family.documentation,
                                             labels=family.labelNames)
                for labels, value in family.samples:
                    metric.add_metric(labels, value)
            else:
                cumulative, buckets = 0, []
                for bound, count in zip([*map(float, family.buckets), float("inf")], family.bucketCounts):
                    cumulative += count
                    buckets.append((floatToGoString(bound), cumulative))
                metric = HistogramMetricFamily(family.name, family.documentation, buckets=buckets,
                                               sum_value=family.sum)
            yield metric


def metrics_text(read, ytdlp=None, families: list[bus.MetricFamily] | None = None) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CountsCollector(families or []))
    registry.register(QueueCollector(read))
    registry.register(YtdlpCollector(ytdlp))
    return generate_latest(registry), CONTENT_TYPE_LATEST
