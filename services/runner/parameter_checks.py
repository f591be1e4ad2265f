"""The zygote's answers to the API's parameter checks (common.ytdlp.answer_check).

The zygote has yt-dlp loaded anyway, so the API asks it instead of importing yt-dlp itself (~16 MiB of the
API's memory), and the parameters are checked by the yt-dlp version the download will run with
(services.runner.ytdlp_update). The socket is a SOCK_SEQPACKET one at RUNPATH/PARAMETER_CHECK_SOCKET, mode
0600, one request and one answer per message; a new zygote moves its socket into place in one rename, so the
API always reaches a whole one. Checks take well under a millisecond and run in the zygote's loop between
forks. Nothing of this reaches a yt-dlp process: a forked one closes these sockets first (close_in_child).
"""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from common.ytdlp import MAX_CHECK_REQUEST_BYTES, PARAMETER_CHECK_SOCKET, answer_check

MAX_CLIENTS = 32


class ParameterCheckServer:
    def __init__(self, run_path: Path):
        path = run_path / PARAMETER_CHECK_SOCKET
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.listener.bind(str(temporary))
            os.chmod(temporary, 0o600)
            self.listener.listen(64)
            os.replace(temporary, path)
        except OSError:
            self.listener.close()
            temporary.unlink(missing_ok=True)
            raise
        self.listener.setblocking(False)
        self.clients: dict[socket.socket, None] = {}  # oldest first

    def sockets(self) -> list[socket.socket]:
        return [self.listener, *self.clients]

    def handle(self, ready: socket.socket) -> None:
        """Serves one readable socket without blocking: a new client, or one request of a client."""
        if ready is self.listener:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if len(self.clients) >= MAX_CLIENTS:  # the one waiting longest makes room: no idle client blocks others
                self._drop(next(iter(self.clients)))
            client.setblocking(False)
            self.clients[client] = None
            return
        try:
            request, _, flags, _ = ready.recvmsg(MAX_CHECK_REQUEST_BYTES)
        except BlockingIOError:
            return
        except OSError:
            request, flags = b"", 0
        if not request:
            self._drop(ready)
            return
        answer = (b'{"unanswered": "the request is too large"}' if flags & socket.MSG_TRUNC
                  else answer_check(request))
        try:
            ready.send(answer)
        except OSError:  # gone, or not reading its answers: it waits no more
            self._drop(ready)

    def _drop(self, client: socket.socket) -> None:
        self.clients.pop(client, None)
        client.close()

    def close_in_child(self) -> None:
        for sock in self.sockets():
            sock.close()


def start_server(run_path: Path) -> ParameterCheckServer | None:
    """The server, or None (the API then checks parameters itself) when the socket cannot be made."""
    try:
        return ParameterCheckServer(run_path)
    except OSError as error:
        print(f"runner: parameter checks not served at {run_path / PARAMETER_CHECK_SOCKET}: {error}; "
              "the API checks them itself", file=sys.stderr, flush=True)
        return None
