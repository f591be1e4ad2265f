"""Serves the API with gunicorn's gevent worker (a greenlet per request), bound to 0.0.0.0 on APIPORT.
Greenlets, not threads: a client waiting in waitForDownload or /api/events costs a greenlet and a queue, so
hundreds of them do not exhaust the worker (docs/performance.md).

With one worker (APIWORKERS=1, the default) the worker is the service's process itself: gunicorn's master
would cost ~16 MiB to watch it, and supervisord restarts it; a watchdog thread does the master's other job,
ending a worker whose event loop stopped turning. More workers get gunicorn's master, which forks them.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime

from gevent import monkey
from gunicorn import sock, util
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


def watch_event_loop(worker: JSONErrorWorker, timeout: float) -> None:
    """Ends the process (supervisord starts it again) when the worker has not noted that its event loop turned
    for `timeout` seconds, as gunicorn's master does to a stuck worker: a request that blocks the loop (a
    CPU-bound bug, a blocking call gevent does not patch) would otherwise hang every other request forever.
    Runs in an operating-system thread of its own, which the blocked loop cannot stop."""
    sleep = monkey.get_original("time", "sleep")
    start_thread = monkey.get_original("_thread", "start_new_thread")

    def watch() -> None:
        while True:
            sleep(1.0)
            silent = time.monotonic() - worker.tmp.last_update()
            if silent > timeout:
                os.write(1, (f"api: CRITICAL the event loop has not turned for {silent:.0f} s (timeout {timeout:g}"
                             f" s): exiting so that supervisord starts the API again\n").encode())
                os._exit(1)

    start_thread(watch, ())


def serve_in_this_process(server: APIServer) -> None:
    """The one worker without gunicorn's master: what the master's spawn_worker does, minus the fork."""
    cfg = server.cfg
    log = cfg.logger_class(cfg)
    worker = JSONErrorWorker(1, os.getppid(), sock.create_sockets(cfg, log), server, cfg.timeout / 2.0, cfg, log)
    worker.pid = os.getpid()
    worker.tmp.notify()
    cfg.set("post_worker_init", lambda booted: watch_event_loop(booted, cfg.timeout))
    log.info("serving on %s with one gevent worker (pid %s), no master", cfg.bind[0], worker.pid)
    try:
        worker.init_process()
    finally:
        worker.tmp.close()


def main() -> None:
    exit_with_supervisor()
    server = APIServer()
    if server.settings.APIWORKERS == 1:
        serve_in_this_process(server)
    else:
        server.run()
