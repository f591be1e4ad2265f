"""One line per event on stdout, prefixed with the service name."""
from __future__ import annotations

import logging
import sys

SERVICE_LOGGERS = ("api", "dbwriter", "scheduler", "runner", "publisher")


class ServiceFormatter(logging.Formatter):
    """Prefixes a line with the service it is about: the logger's own name when it is a service's (the
    publisher's threads log as "publisher" inside the scheduler's process), else the process's service."""

    def __init__(self, service: str):
        super().__init__("%(service)s: %(levelname)s %(message)s")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        name = record.name.partition(".")[0]
        record.service = name if name in SERVICE_LOGGERS else self.service
        return super().format(record)


def setup_logging(service: str, level: int = logging.INFO) -> logging.Logger:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ServiceFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger(service)
