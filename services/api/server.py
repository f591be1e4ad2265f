"""Serves the API with gunicorn's gevent worker (a greenlet per request in a few worker processes), bound to
0.0.0.0 on APIPORT. Greenlets, not threads: a client waiting in waitForDownload or /api/events costs a
greenlet and a queue, so hundreds of them do not exhaust the workers (docs/performance.md)."""
from __future__ import annotations

import json
from datetime import datetime

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import (InvalidResponseHeader, InvalidResponseHeaderName, LimitRequestHeaders,
                                   LimitRequestLine, ParseException)
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.ggevent import GeventWorker

from common.config import load_settings
from common.lifecycle import die_with_parent, exit_with_supervisor
from common.logs import setup_logging

LOG_FORMAT = "api: %(levelname)s %(message)s"


class JSONErrorWorker(GeventWorker):
    """gunicorn's gevent worker, whose own answers are the API's errors too: a request gunicorn refuses
    before Flask sees it (request line or headers too long or too many, a malformed request) gets HTTP 418
    with {errorCode, errorMessage} instead of gunicorn's text/html page."""

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        code, message = self.describe(exc)
        if code == "internalError":
            self.log.exception("error handling a request")
        else:
            self.log.warning("refused a request from ip=%s: %s", (addr or ("",))[0], str(exc)[:200])
        body = json.dumps({"errorCode": code, "errorMessage": message}).encode()
        if req is not None:
            environ = default_environ(req, client, self.cfg)
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = (addr or ("", -1))[0], str((addr or ("", -1))[1])
            response = Response(req, client, self.cfg)
            response.status, response.response_length = "418 I'm a teapot", len(body)
            self.log.access(response, req, environ, datetime.now() - started)
        head = (f"HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            util.write_nonblock(client, head + body)
        except OSError:
            self.log.debug("could not send the error answer")

    def describe(self, exc: Exception) -> tuple[str, str]:
        if isinstance(exc, LimitRequestLine):
            return "requestTooLarge", f"the request line (URL) is longer than {self.cfg.limit_request_line} bytes"
        if isinstance(exc, LimitRequestHeaders):
            return "requestTooLarge", (f"the request headers are too large (at most {self.cfg.limit_request_fields}"
                                       f" fields of {self.cfg.limit_request_field_size} bytes)")
        if isinstance(exc, ParseException) and not isinstance(exc, (InvalidResponseHeader, InvalidResponseHeaderName)):
            return "invalidRequest", f"the request could not be read: {str(exc)[:200]}"
        return "internalError", f"internal error ({type(exc).__name__}); see the API log"


class APIServer(BaseApplication):
    def __init__(self):
        self.settings = load_settings()
        super().__init__()

    def load_config(self):
        settings = self.settings
        self.cfg.set("bind", [f"0.0.0.0:{settings.APIPORT}"])
        self.cfg.set("workers", settings.APIWORKERS)
        self.cfg.set("worker_connections", settings.APIWORKERCONNECTIONS)
        self.cfg.set("worker_class", JSONErrorWorker)
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
        """Runs in each worker, after gevent patched it: the app's sockets and locks are gevent's."""
        from services.api.app import TrustedProxyFix, create_app

        setup_logging("api")
        return TrustedProxyFix(create_app(self.settings), self.settings.TRUSTEDPROXYNETWORKS)


def _exit_with_master(_arbiter, worker) -> None:
    """A worker stops at once when its master dies, even by kill -9 (gunicorn alone notices within a second)."""
    die_with_parent(parent=worker.ppid)


def main() -> None:
    exit_with_supervisor()
    APIServer().run()
