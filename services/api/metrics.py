"""The /api/metrics text: counters and histograms of every process, plus queue gauges read from the database."""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
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


def metrics_text(read, ytdlp=None) -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    registry.register(QueueCollector(read))
    registry.register(YtdlpCollector(ytdlp))
    return generate_latest(registry), CONTENT_TYPE_LATEST
