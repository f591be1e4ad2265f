"""Serves the API with gunicorn (threads in a few workers), bound to 0.0.0.0 on APIPORT."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from common.config import load_settings
from common.lifecycle import die_with_parent, exit_with_supervisor
from common.logs import setup_logging
from services.api.app import TrustedProxyFix, create_app

LOG_FORMAT = "api: %(levelname)s %(message)s"


class APIServer(BaseApplication):
    def __init__(self):
        self.settings = load_settings()
        super().__init__()

    def load_config(self):
        settings = self.settings
        self.cfg.set("bind", [f"0.0.0.0:{settings.APIPORT}"])
        self.cfg.set("workers", settings.APIWORKERS)
        self.cfg.set("threads", settings.APITHREADS)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("accesslog", "-")
        self.cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms')
        self.cfg.set("errorlog", "-")
        self.cfg.set("graceful_timeout", 5)
        self.cfg.set("control_socket_disable", True)
        self.cfg.set("post_fork", _exit_with_master)
        self.cfg.set("logconfig_dict", {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"line": {"format": LOG_FORMAT}},
            "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "line",
                                    "stream": "ext://sys.stdout"}},
            "loggers": {"gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
                        "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False}},
            "root": {"handlers": ["stdout"], "level": "INFO"},
        })

    def load(self):
        setup_logging("api")
        return TrustedProxyFix(create_app(self.settings), self.settings.TRUSTEDPROXYNETWORKS)


def _exit_with_master(_arbiter, worker) -> None:
    """A worker stops at once when its master dies, even by kill -9 (gunicorn alone notices within a second)."""
    die_with_parent(parent=worker.ppid)


def main() -> None:
    exit_with_supervisor()
    APIServer().run()
