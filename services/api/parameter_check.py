"""The API's check of user yt-dlp parameters, asked of the runner's yt-dlp.

The runner's zygote has yt-dlp loaded and answers on RUNPATH/PARAMETER_CHECK_SOCKET
(services.runner.parameter_checks), so the API does not import yt-dlp (~16 MiB) and the parameters are
checked by the yt-dlp version the download will run with. When the zygote does not answer (the runner is
restarting, or the API runs on another host than the runner), the request waits for it a few seconds (a
zygote gets ready in ~1-2 s), then the API checks them itself with the same common.ytdlp.check_parameters,
loading yt-dlp for good. From then on a request waits at most QUICK_ANSWER_SECONDS for the runner (a frozen
zygote still accepts connections), and once the runner has not answered the API checks alone for
SILENT_RUNNER_SECONDS before it asks again. A request is never refused or let through because the runner was
away. Each check is reported to the DB writer, which counts who answered (prt_parameter_checks_total{by}).
"""
from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable

from common import bus
from common.config import Settings
from common.ytdlp import MAX_CHECK_REQUEST_BYTES, PARAMETER_CHECK_SOCKET, ParameterError, check_parameters

log = logging.getLogger("api")

ANSWER_TIMEOUT_SECONDS = 2.0
QUICK_ANSWER_SECONDS = 0.25  # the answer timeout once yt-dlp is loaded here (the zygote answers in < 1 ms)
SILENT_RUNNER_SECONDS = 5.0  # once loaded here: after an unanswered request, how long the API does not ask
PATIENCE_SECONDS = 5.0  # how long a request waits for a (re)starting zygote before the API loads yt-dlp
RETRY_SECONDS = 0.1


class ParameterChecker:
    def __init__(self, settings: Settings, push: Callable[[str, bus.Message], None]):
        self.push = push  # Backend.push: the check is counted by the DB writer
        self.path = str(settings.RUNPATH / PARAMETER_CHECK_SOCKET)
        self.checking_here = False  # for one log line per change, not one per request
        self.ytdlp_loaded_here = False
        self.ask_runner_after = 0.0  # monotonic time; only used once yt-dlp is loaded here

    def check(self, arguments: list[str]) -> list[str]:
        """The arguments unchanged, or ParameterError (common.ytdlp.check_parameters)."""
        if not arguments:
            return []
        answer = self._runners_answer(json.dumps(arguments).encode())  # ASCII: even a lone surrogate is sent as is
        if "unanswered" not in answer:
            self.push("dbwriter-events", bus.ParameterChecked(by="runner"))
            if self.checking_here:
                self.checking_here = False
                log.info("yt-dlp parameters are checked by the runner's yt-dlp again")
            if answer.get("ok") is True:
                return list(arguments)
            raise ParameterError(str(answer["errorCode"]), str(answer["errorMessage"]))
        if not self.checking_here:
            self.checking_here = True
            log.warning("yt-dlp parameters are checked in the API process while the runner does not answer (%s); "
                        "yt-dlp is loaded here", answer["unanswered"])
        self.push("dbwriter-events", bus.ParameterChecked(by="api"))
        self.ytdlp_loaded_here = True
        return check_parameters(arguments)

    def _runners_answer(self, request: bytes) -> dict:
        if len(request) > MAX_CHECK_REQUEST_BYTES:
            return {"unanswered": f"the parameters are longer than {MAX_CHECK_REQUEST_BYTES} bytes"}
        if self.ytdlp_loaded_here:
            if time.monotonic() < self.ask_runner_after:
                return {"unanswered": f"the runner did not answer within the last {SILENT_RUNNER_SECONDS:g} s"}
            try:
                return self._ask_runner(request, QUICK_ANSWER_SECONDS)
            except (OSError, ValueError) as error:
                self.ask_runner_after = time.monotonic() + SILENT_RUNNER_SECONDS
                return {"unanswered": f"{type(error).__name__}: {error}"}
        deadline = time.monotonic() + PATIENCE_SECONDS
        while True:
            try:
                return self._ask_runner(request, ANSWER_TIMEOUT_SECONDS)
            except (OSError, ValueError) as error:  # no zygote (yet), or it did not answer in time
                if time.monotonic() >= deadline:
                    return {"unanswered": f"{type(error).__name__}: {error}"}
            time.sleep(RETRY_SECONDS)

    def _ask_runner(self, request: bytes, timeout: float) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
            connection.settimeout(timeout)
            connection.connect(self.path)
            connection.send(request)
            answer = json.loads(connection.recv(64 * 1024))
        if not isinstance(answer, dict) or not ("unanswered" in answer or answer.get("ok") is True
                                                or {"errorCode", "errorMessage"} <= answer.keys()):
            raise ValueError(f"unexpected answer {answer!r:.200}")
        return answer
