"""The forward proxy through which ffmpeg (and ffprobe) started by a download reach the network.

ffmpeg resolves names and connects by itself, outside the Python process and its address guard. So each
yt-dlp process runs this proxy in a thread on 127.0.0.1 (an ephemeral port) and gives it to every ffmpeg it
starts as `http_proxy`/`https_proxy` (services.runner.ffmpeg_guard). For each connection the proxy resolves
the host itself with the process's EgressGuard, connects only to an address the guard allows (the checked
address: no second DNS answer), and answers 403 with the guard's reason otherwise. Plain HTTP is one request
per connection (`Connection: close` both ways), so a kept-alive connection cannot be pointed at another host;
HTTPS is a CONNECT tunnel to the checked address (ffmpeg's tls protocol tunnels through `http_proxy`).

Where the process may create a network namespace (root, as on the development machines and in CI), the
proxy listens inside a new one that has only its loopback (`isolated_listener`), and ffmpeg is started in it
(services.runner.ffmpeg_guard): the proxy is then ffmpeg's only way out, not only the one it is told about.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from urllib.parse import urlsplit

from common.network import BLOCKED_ADDRESS, EgressGuard

MAX_HEAD_BYTES = 64 * 1024
CONNECT_TIMEOUT_SECONDS = 30
_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te", b"trailer",
               b"upgrade"}


CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def isolated_listener() -> tuple[socket.socket, int] | None:
    """A listening socket on 127.0.0.1 inside a new network namespace that has nothing but its loopback, and
    a file descriptor of that namespace; None when this process may not create one.

    A helper thread moves itself into the new namespace (namespaces are per thread), makes the socket there
    and ends; the rest of the process, and so the proxy's upstream connections, stay where they were."""
    made: list = []

    def make() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNET) != 0:
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
            request = struct.pack("16sH14s", b"lo", 0, b"")
            flags = struct.unpack("16sH14s", fcntl.ioctl(control, _SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(control, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | _IFF_UP, b""))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        made.extend([listener, os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)])

    thread = threading.Thread(target=make, name="egress-namespace")
    thread.start()
    thread.join()
    return (made[0], made[1]) if made else None


class GuardedProxy:
    def __init__(self, guard: EgressGuard, listener: socket.socket | None = None):
        """listener: a socket bound on 127.0.0.1 (isolated_listener's); None: a new one here."""
        self.guard = guard
        if listener is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
        self.listener = listener
        self.listener.listen(64)
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name="egress-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="egress-proxy-client", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                head, rest = _read_head(client)
                method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            except (OSError, ValueError):
                return _answer(client, 400, "Bad Request", "malformed proxy request")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                host = host.strip("[]")
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    return _answer(client, 400, "Bad Request", f"only http:// URLs and CONNECT are proxied: {target!r}")
                host, port = parts.hostname, str(parts.port or 80)
            if not host or not port.isdigit():
                return _answer(client, 400, "Bad Request", f"no host and port in {target!r}")
            try:
                upstream = self._connect(host, int(port))
            except OSError as error:
                message = error.strerror or str(error)
                if BLOCKED_ADDRESS in message:
                    return _answer(client, 403, "Forbidden", message)
                return _answer(client, 502, "Bad Gateway", f"cannot connect to {host}:{port}: {message}")
            with upstream:
                if method == "CONNECT":
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    _relay(client, upstream, rest, rewrite_response=False)
                else:
                    path = parts.path or "/"
                    if parts.query:
                        path += "?" + parts.query
                    request_line = f"{method} {path} HTTP/1.1".encode("latin-1")
                    _relay(client, upstream, _with_connection_close(request_line, head) + rest, rewrite_response=True)

    def _connect(self, host: str, port: int) -> socket.socket:
        """A socket connected to an allowed address of host (the guard's resolve and connect checks)."""
        last_error: OSError = OSError(f"{host} has no address")
        for family, _, _, _, address in self.guard.resolve(host, port, type=socket.SOCK_STREAM):
            upstream = socket.socket(family, socket.SOCK_STREAM)
            upstream.settimeout(CONNECT_TIMEOUT_SECONDS)
            try:
                upstream.connect(address)
            except OSError as error:
                upstream.close()
                if BLOCKED_ADDRESS in (error.strerror or ""):
                    raise
                last_error = error
                continue
            upstream.settimeout(None)
            return upstream
        raise last_error


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("connection closed before the end of the head")
        data += chunk
        if len(data) > MAX_HEAD_BYTES and b"\r\n\r\n" not in data:
            raise ValueError("head too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _with_connection_close(first_line: bytes, head: bytes) -> bytes:
    """The head with first_line, without hop-by-hop headers, and `Connection: close`."""
    kept = [line for line in head.split(b"\r\n")[1:]
            if line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP]
    return b"\r\n".join([first_line, *kept, b"Connection: close", b"", b""])


def _answer(client: socket.socket, status: int, reason: str, message: str) -> None:
    body = message.encode()
    try:
        client.sendall(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    except OSError:
        pass


def _relay(client: socket.socket, upstream: socket.socket, first: bytes, rewrite_response: bool) -> None:
    """Copies both ways until both sides are done; with rewrite_response, the response head gets
    `Connection: close` so that the client opens a new connection (and a new check) for its next request."""
    def forward(source: socket.socket, target: socket.socket, prefix: bytes, rewrite: bool) -> None:
        try:
            if prefix:
                target.sendall(prefix)
            if rewrite:
                head, rest = _read_head(source)
                target.sendall(_with_connection_close(head.split(b"\r\n", 1)[0], head) + rest)
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except (OSError, ValueError):
            pass
        finally:
            for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
                try:
                    sock.shutdown(how)
                except OSError:
                    pass

    to_upstream = threading.Thread(target=forward, args=(client, upstream, first, False), daemon=True)
    to_upstream.start()
    forward(upstream, client, b"", rewrite_response)
    if rewrite_response:  # the answer is complete: nothing more may go to this host on this connection
        for sock in (client, upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    to_upstream.join()
