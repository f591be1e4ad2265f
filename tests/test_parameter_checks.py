"""yt-dlp parameters are checked by the runner's yt-dlp (its zygote answers the API on a socket), so the API
does not load yt-dlp; while the runner is away the API checks them itself; hostile clients of that socket stop
neither the checks nor the downloads; and the spares rest when no download comes (issue 20)."""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from common.ytdlp import MAX_CHECK_REQUEST_BYTES, PARAMETER_CHECK_SOCKET
from services.api.parameter_check import ANSWER_TIMEOUT_SECONDS
from services.runner.parameter_checks import MAX_CLIENTS
from tests.stack import (Stack, loaded_by_services, metric, socket_inodes_of, wait_for, ytdlp_processes,
                         zygotes_of)

FORBIDDEN = "--exec 'touch /tmp/owned'"
ALLOWED = "-f best --referer https://example.org/"
FALLBACK_LINE = "api: WARNING yt-dlp parameters are checked in the API process"


def checks(stack: Stack, by: str) -> float:
    return metric(stack, "prt_parameter_checks_total", f'{{by="{by}"}}')


def ask(path: Path, request: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
        connection.connect(str(path))
        connection.settimeout(10)
        connection.send(request)
        return json.loads(connection.recv(65536))


@pytest.fixture(scope="module")
def checked_stack():
    with Stack() as stack:
        path = stack.run / PARAMETER_CHECK_SOCKET
        wait_for(lambda: path.exists(), timeout=60, message="the zygote's check socket")
        yield stack


def test_the_runners_ytdlp_answers_and_the_api_never_loads_it(checked_stack):
    stack = checked_stack
    by_runner = checks(stack, "runner")
    refused = stack.initiate("http://127.0.0.1:9/v.mp4", FORBIDDEN)
    assert refused.status_code == 418 and refused.json()["errorCode"] == "forbiddenYtdlpParameter", refused.text
    assert "--exec" in refused.json()["errorMessage"]
    bad_value = stack.initiate("http://127.0.0.1:9/v.mp4", "--sponsorblock-remove no-such-category")
    assert bad_value.status_code == 418 and bad_value.json()["errorCode"] == "invalidYtdlpParameters", bad_value.text
    accepted = stack.initiate("http://127.0.0.1:9/v.mp4", ALLOWED)
    assert accepted.status_code == 200, accepted.text
    assert checks(stack, "runner") == by_runner + 3
    assert checks(stack, "api") == 0
    assert FALLBACK_LINE not in stack.logs()
    assert stat.S_IMODE((stack.run / PARAMETER_CHECK_SOCKET).stat().st_mode) == 0o600


def test_no_service_imports_ytdlp(tmp_path):
    """The API asks the zygote; the runner only starts it (issue 20)."""
    assert not loaded_by_services("yt_dlp", tmp_path)


def test_hostile_clients_of_the_check_socket_stop_neither_checks_nor_downloads(checked_stack, media):
    stack = checked_stack
    path = stack.run / PARAMETER_CHECK_SOCKET
    runner = stack.pid("runner")
    forked_before = set(ytdlp_processes(runner=runner))
    idle = []
    try:
        for _ in range(40):  # more than the zygote serves at once; none of them ever sends
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            connection.connect(str(path))
            idle.append(connection)
        assert ask(path, b"not json")["unanswered"]
        assert ask(path, b'{"a": 1}')["unanswered"]
        assert ask(path, b"x" * (MAX_CHECK_REQUEST_BYTES + 1))["unanswered"] == "the request is too large"
        assert ask(path, json.dumps(["--exec", "id"]).encode())["errorCode"] == "forbiddenYtdlpParameter"
        assert ask(path, json.dumps(["-f", "best"]).encode()) == {"ok": True}
        uuid = stack.start_download(f"{media.url}/clip.mp4?hostile-check-clients", "-f best")
        assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
        forked_since = wait_for(lambda: set(ytdlp_processes(runner=runner)) - forked_before, timeout=30,
                                message="a spare forked while the idle clients were connected")
        zygote = zygotes_of(runner)[0]
        zygote_sockets = socket_inodes_of(zygote)  # its control socket, the check socket and the clients above
        assert len(zygote_sockets) >= MAX_CLIENTS
        for pid in forked_since:
            assert not socket_inodes_of(pid) & zygote_sockets, f"yt-dlp process {pid} holds sockets of the zygote"
    finally:
        for connection in idle:
            connection.close()


def test_while_the_runner_is_away_the_api_checks_parameters_itself(checked_stack):
    stack = checked_stack
    by_runner = checks(stack, "runner")
    rows = stack.row_count()
    assert stack.ctl("stop", "runner").returncode == 0
    try:
        refused = stack.initiate("http://127.0.0.1:9/v.mp4", FORBIDDEN)
        assert refused.status_code == 418 and refused.json()["errorCode"] == "forbiddenYtdlpParameter", refused.text
        assert stack.row_count() == rows
        accepted = stack.initiate("http://127.0.0.1:9/v.mp4", ALLOWED)
        assert accepted.status_code == 200, accepted.text
        assert stack.download(accepted.json()["downloadUUID"])["downloadStatus"] == "PENDING"
        assert checks(stack, "api") == 2 and checks(stack, "runner") == by_runner
        assert stack.logs().count(FALLBACK_LINE) == 1
    finally:
        assert stack.ctl("start", "runner").returncode == 0
    wait_for(lambda: answered_by_runner(stack), timeout=60, message="the restarted runner's yt-dlp to answer again")
    assert "api: INFO yt-dlp parameters are checked by the runner's yt-dlp again" in stack.logs()


def test_a_frozen_zygote_does_not_make_every_request_wait(checked_stack):
    """A stopped (SIGSTOP) zygote still accepts connections, so only the answer's timeout tells. Once the API has
    yt-dlp loaded (the test above), it waits for the runner at most QUICK_ANSWER_SECONDS, then checks alone for
    SILENT_RUNNER_SECONDS; without that each request waited ANSWER_TIMEOUT_SECONDS."""
    stack = checked_stack
    runner = stack.pid("runner")
    wait_for(lambda: answered_by_runner(stack), timeout=60, message="the runner's yt-dlp to answer")
    zygote = zygotes_of(runner)[0]
    by_api, rows = checks(stack, "api"), stack.row_count()
    os.kill(zygote, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answers = [stack.initiate("http://127.0.0.1:9/v.mp4", FORBIDDEN) for _ in range(3)]
        taken = time.monotonic() - started
    finally:
        os.kill(zygote, signal.SIGCONT)
    assert [(a.status_code, a.json()["errorCode"]) for a in answers] == [(418, "forbiddenYtdlpParameter")] * 3
    assert stack.row_count() == rows
    assert taken < ANSWER_TIMEOUT_SECONDS, f"three checks took {taken:.1f} s with the zygote frozen"
    assert checks(stack, "api") == by_api + 3
    wait_for(lambda: answered_by_runner(stack), timeout=60, message="the thawed zygote to answer again")


def answered_by_runner(stack: Stack) -> bool:
    before = checks(stack, "runner")
    assert stack.initiate("http://127.0.0.1:9/v.mp4", FORBIDDEN).status_code == 418
    return checks(stack, "runner") == before + 1


def test_spares_rest_when_no_download_comes_and_are_back_with_the_next(media):
    rested = "no download for 3 s: the spare yt-dlp processes"
    with Stack(PRT_VIDEODOWNLOADER_WARMIDLESECONDS="3") as stack:
        runner = stack.pid("runner")
        wait_for(lambda: stack.logs().count(rested) == 1 and not ytdlp_processes(runner=runner), timeout=30,
                 message="the spares to rest")
        uuid = stack.start_download(f"{media.url}/clip.mp4?after-rest")
        assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
        wait_for(lambda: ytdlp_processes(runner=runner), timeout=30, message="a spare after the download")
        wait_for(lambda: stack.logs().count(rested) == 2 and not ytdlp_processes(runner=runner), timeout=30,
                 message="the spare to rest again")
        assert f"{rested} (1) are stopped until the next download" in stack.logs()
