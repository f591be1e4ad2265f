"""Reading a child's stdout and stderr line by line without blocking, for one select() loop.

A buffered readline() after select() can pull several lines into Python's buffer while the pipe looks
empty to select(): lines then wait for output that may never come. Reading whatever the pipe holds,
without blocking, and splitting it here cannot strand a line.
"""
from __future__ import annotations

import os
import selectors
from collections.abc import Iterator


class LineStreams:
    def __init__(self, **streams):
        """streams: name=file object (pipe) to follow, e.g. out=process.stdout, err=process.stderr."""
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[int, bytes] = {}
        for name, stream in streams.items():
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self.buffers[fd] = b""
            self.selector.register(fd, selectors.EVENT_READ, name)

    @property
    def open(self) -> bool:
        return bool(self.buffers)

    def lines(self, timeout: float) -> Iterator[tuple[str, str]]:
        """(stream name, line without its newline) for what arrived within timeout; a final unterminated
        line is given when its stream closes."""
        for key, _ in self.selector.select(timeout=timeout):
            fd = key.fd
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            data = self.buffers[fd] + chunk
            *complete, rest = data.split(b"\n")
            if not chunk:
                self.selector.unregister(fd)
                del self.buffers[fd]
                if rest:
                    complete.append(rest)
            else:
                self.buffers[fd] = rest
            for line in complete:
                yield key.data, line.decode("utf-8", errors="replace")

    def close(self) -> None:
        self.selector.close()
