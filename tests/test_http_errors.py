"""Every API error is HTTP 418 JSON, also the ones gunicorn and nginx give before Flask sees the request:
checked with raw requests on the API port and through nginx (HTTPS) of the real stack."""
from __future__ import annotations

import json
import socket
import ssl
import subprocess

import pytest
import requests

from tests.stack import Stack, descendants, wait_for

HOSTILE_REQUESTS = {
    "url of 9 KB": (b"GET /api/hello?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "requestTooLarge"),
    "url of 6 KB": (b"GET /api/hello?x=" + b"a" * 6000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "requestTooLarge"),
    "header of 12 KB": (b"GET /api/hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 12000 + b"\r\n\r\n",
                        "requestTooLarge"),
    "150 headers": (b"GET /api/hello HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(150))
                    + b"\r\n", "requestTooLarge"),
    "garbage request line": (b"GARBAGE\r\n\r\n", "invalidRequest"),
    "unknown HTTP version": (b"GET /api/hello HTTP/9.9\r\nHost: x\r\n\r\n", "invalidRequest"),
    "body of 200 KB": (b"POST /api/initiateDownload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 200000\r\n\r\n" + b"{" + b" " * 199998 + b"}", "requestTooLarge"),
}


def raw_request(stack, where: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (no client-side checks) and reads one HTTP/1.1 response."""
    port = stack.api_port if where == "api" else stack.https_port
    connection = socket.create_connection(("127.0.0.1", port), timeout=15)
    if where == "nginx":
        connection = ssl.create_default_context(cafile=stack.ca).wrap_socket(connection,
                                                                              server_hostname="127.0.0.1")
    with connection:
        try:
            connection.sendall(data)
        except OSError:
            pass  # a server may answer and stop reading before a too large request is all sent
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            assert chunk, f"connection closed without an answer: {received!r}"
            received += chunk
        head, body = received.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, value in
                   (line.split(":", 1) for line in lines[1:])}
        while len(body) < int(headers.get("content-length", 0)):
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body


def curl_http2(stack, *arguments: str) -> tuple[int, dict[str, str], bytes]:
    """One request over HTTP/2 to nginx (curl: the Python clients here speak HTTP/1.1 only)."""
    result = subprocess.run(["curl", "-s", "--http2", "--cacert", stack.ca, "-o", "-",
                             "-w", "\n%{http_version} %{http_code} %{content_type}", *arguments],
                            capture_output=True, timeout=60)
    body, _, written = result.stdout.rpartition(b"\n")
    version, status, content_type = (written.decode().split(" ", 2) + [""])[:3]
    assert version == "2", (result.returncode, result.stdout[-300:])
    return int(status), {"content-type": content_type}, body


def assert_json_error(status: int, headers: dict, body: bytes, code: str) -> dict:
    assert status == 418, (status, body[:300])
    assert headers["content-type"].startswith("application/json"), headers
    answer = json.loads(body)
    assert set(answer) == {"errorCode", "errorMessage"} and answer["errorCode"] == code, answer
    assert answer["errorMessage"]
    return answer


@pytest.mark.parametrize("where", ["api", "nginx"])
@pytest.mark.parametrize("case", sorted(HOSTILE_REQUESTS))
def test_requests_refused_before_flask_get_a_json_418(stack, where, case):
    data, code = HOSTILE_REQUESTS[case]
    assert_json_error(*raw_request(stack, where, data), code)


@pytest.mark.parametrize("case,code", [("url of 9 KB", "requestTooLarge"), ("header of 12 KB", "requestTooLarge"),
                                       ("150 headers", "requestTooLarge"), ("body of 200 KB", "requestTooLarge"),
                                       ("body of 80 KB", "requestTooLarge")])
def test_the_same_over_http2(stack, tmp_path, case, code):
    url = f"{stack.https}/api/hello"
    arguments = {
        "url of 9 KB": [f"{url}?x={'a' * 9000}"],
        "header of 12 KB": ["-H", "X-Big: " + "a" * 12000, url],
        "150 headers": [*(argument for n in range(150) for argument in ("-H", f"X-H{n}: v")), url],
    }.get(case)
    if arguments is None:
        body = tmp_path / "body.json"
        body.write_text('{"videoURL": "' + "a" * (200_000 if "200" in case else 80_000) + '"}')
        arguments = ["-H", "Content-Type: application/json", "--data-binary", f"@{body}",
                     f"{stack.https}/api/initiateDownload"]
    assert_json_error(*curl_http2(stack, *arguments), code)


@pytest.mark.parametrize("where", ["api", "nginx"])
def test_a_body_just_over_the_apis_limit_is_refused_by_the_api_itself(stack, where):
    """nginx's own body limit sits above the API's, so that the API's requestTooLarge is what clients see."""
    body = b'{"videoURL": "http://127.0.0.1/' + b"a" * 80_000 + b'"}'
    request = (b"POST /api/initiateDownload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    rows = stack.row_count()
    answer = assert_json_error(*raw_request(stack, where, request), "requestTooLarge")
    assert "65536 bytes" in answer["errorMessage"]  # the API's message, not nginx's
    assert stack.row_count() == rows


def test_plain_http_on_the_https_port_gets_a_json_418(stack):
    response = requests.get(f"http://127.0.0.1:{stack.https_port}/api/hello", timeout=10)
    assert response.status_code == 418 and response.json()["errorCode"] == "invalidRequest", response.text


def test_api_paths_that_look_hidden_are_the_apis_own_not_found(stack):
    response = requests.get(f"{stack.https}/api/.hidden", verify=stack.ca, timeout=10)
    assert response.status_code == 418 and response.json()["errorCode"] == "notFound"


def test_stopped_api_is_a_json_418_through_nginx_and_the_rest_is_served(stack):
    assert stack.ctl("stop", "api").returncode == 0
    try:
        for response in (requests.get(f"{stack.https}/api/hello", verify=stack.ca, timeout=10),
                         requests.post(f"{stack.https}/api/initiateDownload", json={"videoURL": "http://x/y"},
                                       verify=stack.ca, timeout=10)):
            assert response.status_code == 418, response.text
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.json()["errorCode"] == "serviceUnavailable"
        assert_json_error(*curl_http2(stack, f"{stack.https}/api/hello"), "serviceUnavailable")
        ui = requests.get(f"{stack.https}/", verify=stack.ca, timeout=10)  # the UI is not the API
        assert ui.status_code == 200 and "text/html" in ui.headers["Content-Type"]
    finally:
        stack.ctl("start", "api")
        wait_for(lambda: requests.get(f"{stack.https}/api/hello", verify=stack.ca, timeout=5).status_code == 200,
                 timeout=30, message="the API to answer through nginx again")


def test_a_missing_video_file_stays_a_plain_404(stack):
    response = requests.get(f"{stack.https}/videodownloader/00000000-0000-4000-8000-000000000000.mp4",
                            verify=stack.ca, timeout=10)
    assert response.status_code == 404


def test_more_api_workers_are_forked_by_gunicorns_master_and_refuse_in_json_too():
    """APIWORKERS > 1: gunicorn's master and its workers instead of the single process of the default."""
    with Stack(PRT_VIDEODOWNLOADER_APIWORKERS="2") as stack:
        wait_for(lambda: len(descendants(stack.pid("api"))) == 2, timeout=30, message="two API workers")
        assert requests.get(f"{stack.api}/api/hello", timeout=10).status_code == 200
        data, code = HOSTILE_REQUESTS["150 headers"]
        assert_json_error(*raw_request(stack, "api", data), code)
